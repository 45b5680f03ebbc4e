package checker

import (
	"fmt"
	"strings"

	"github.com/shoaldb/shoal/core/env"
)

// Faults checks that the run tested what its schedule says: that every
// step of the nemesis took effect at least once. An occurrence took effect
// when the nemesis found something to hit (nemesis.start's effect) and,
// where the trace can tell, the fault did something while it lasted: a
// partition dropped messages, a link fault's links carried some, a disk
// fault failed an operation, an endpoint taken down dropped messages on
// its links (an endpoint made to fail or answer slowly took effect when it
// was up, which nemesis.start says). A step that never took effect makes the
// verdict unknown, not invalid: the system was not shown wrong, only not
// tested as the scenario claims. It is NA when the run had no nemesis.
func Faults(trace []env.Record) Result {
	res := Result{Checker: "faults"}
	type occurrence struct {
		fault, mode, why string
		effect           bool
	}
	type step struct {
		n         int64
		occ       map[int64]*occurrence
		effective int
		total     int
	}
	var steps []*step
	byNum := map[int64]*step{}
	for i := range trace {
		r := &trace[i]
		if r.Kind != "nemesis.start" && r.Kind != "nemesis.stop" {
			continue
		}
		num, _ := r.Int("step")
		n, _ := r.Int("n")
		s := byNum[num]
		if s == nil {
			s = &step{n: num, occ: map[int64]*occurrence{}}
			byNum[num] = s
			steps = append(steps, s)
		}
		fault, _ := r.Str("fault")
		if r.Kind == "nemesis.start" {
			effect, _ := r.Bool("effect")
			why, _ := r.Str("why")
			mode, _ := r.Str("mode")
			s.occ[n] = &occurrence{fault: fault, mode: mode, why: why, effect: effect}
			s.total++
			if effect {
				s.effective++
			}
			continue
		}
		o := s.occ[n]
		if o == nil || !o.effect {
			continue
		}
		sent, _ := r.Int("sent")
		dropped, _ := r.Int("dropped")
		diskErrors, _ := r.Int("disk_errors")
		why := ""
		switch fault {
		case "partition":
			if dropped == 0 {
				why = "no message was dropped at its cuts"
			}
		case "link":
			if sent == 0 {
				why = "no message crossed its links"
			}
		case "disk":
			if diskErrors == 0 {
				why = "no disk operation failed"
			}
		case "endpoint":
			if o.mode == "down" && dropped == 0 {
				why = "no message was dropped at its cuts"
			}
		}
		if why != "" {
			o.effect, o.why = false, why
			s.effective--
		}
	}
	if len(steps) == 0 {
		res.Verdict = NA
		res.Explanation = "the run had no nemesis"
		return res
	}
	var parts, idle []string
	for _, s := range steps {
		if s.effective > 0 {
			parts = append(parts, fmt.Sprintf("step %d: %d of %d took effect", s.n, s.effective, s.total))
			continue
		}
		// Say why, from the first occurrence that says.
		why := "it never fired"
		for n := int64(1); n <= int64(len(s.occ)); n++ {
			if o := s.occ[n]; o != nil && o.why != "" {
				why = fmt.Sprintf("%s: %s", o.fault, o.why)
				break
			}
		}
		idle = append(idle, fmt.Sprintf("step %d never took effect in %d occurrences (%s)", s.n, s.total, why))
	}
	if len(idle) > 0 {
		res.Verdict = Unknown
		res.Explanation = strings.Join(append(idle, parts...), "; ")
		return res
	}
	res.Verdict = Valid
	res.Explanation = strings.Join(parts, "; ")
	return res
}
