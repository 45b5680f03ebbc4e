package reports

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// Timeline geometry, in SVG user units.
const (
	laneLeft   = 60
	laneWidth  = 900
	laneHeight = 22
	laneGap    = 6
	axisHeight = 24
)

type interval struct {
	from, to int64
	state    string // up, paused, down
}

// timeline draws one lane per node coloured by its state (up, paused,
// down) and shades, over all lanes, the spans during which some link was
// cut.
func timeline(trace []env.Record) template.HTML {
	if len(trace) == 0 {
		return ""
	}
	end := trace[len(trace)-1].Time
	if end <= 0 {
		end = 1
	}
	var order []env.NodeID
	lanes := map[env.NodeID][]interval{}
	open := func(n env.NodeID, t int64, state string) {
		iv := lanes[n]
		if k := len(iv); k > 0 && iv[k-1].to < 0 {
			iv[k-1].to = t
		}
		lanes[n] = append(iv, interval{from: t, to: -1, state: state})
	}
	var cuts []interval
	cutLinks := map[[2]string]bool{}
	setCut := func(t int64) {
		k := len(cuts)
		anyCut := false
		for _, c := range cutLinks {
			anyCut = anyCut || c
		}
		switch {
		case anyCut && (k == 0 || cuts[k-1].to >= 0):
			cuts = append(cuts, interval{from: t, to: -1, state: "cut"})
		case !anyCut && k > 0 && cuts[k-1].to < 0:
			cuts[k-1].to = t
		}
	}
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "node.start":
			if _, ok := lanes[r.Node]; !ok {
				order = append(order, r.Node)
			}
			open(r.Node, r.Time, "up")
		case "node.kill", "node.crash", "node.fail":
			open(r.Node, r.Time, "down")
		case "node.pause":
			open(r.Node, r.Time, "paused")
		case "node.resume":
			open(r.Node, r.Time, "up")
		case "net.cut", "net.uncut":
			from, _ := r.Str("from")
			to, _ := r.Str("to")
			cutLinks[[2]string{from, to}] = r.Kind == "net.cut"
			setCut(r.Time)
		case "net.partition":
			clear(cutLinks)
			desc, _ := r.Str("components")
			if strings.Contains(desc, "|") {
				cutLinks[[2]string{"partition", ""}] = true
			}
			setCut(r.Time)
		case "net.heal":
			clear(cutLinks)
			setCut(r.Time)
		}
	}
	x := func(t int64) float64 { return laneLeft + float64(t)/float64(end)*laneWidth }
	height := axisHeight + len(order)*(laneHeight+laneGap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="node states over time">`,
		laneLeft+laneWidth+30, height, laneLeft+laneWidth+30, height)
	for i, n := range order {
		y := i * (laneHeight + laneGap)
		fmt.Fprintf(&b, `<text x="0" y="%d" class="lane">%s</text>`, y+laneHeight-6, template.HTMLEscapeString(string(n)))
		for _, iv := range lanes[n] {
			to := iv.to
			if to < 0 {
				to = end
			}
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%d" width="%.1f" height="%d"><title>%s %s: %s – %s</title></rect>`,
				iv.state, x(iv.from), y, max(x(to)-x(iv.from), 1), laneHeight, template.HTMLEscapeString(string(n)), iv.state, time.Duration(iv.from), time.Duration(to))
		}
	}
	for _, c := range cuts {
		to := c.to
		if to < 0 {
			to = end
		}
		fmt.Fprintf(&b, `<rect class="cut" x="%.1f" y="0" width="%.1f" height="%d"><title>links cut %s – %s</title></rect>`,
			x(c.from), max(x(to)-x(c.from), 1), height-axisHeight, time.Duration(c.from), time.Duration(to))
	}
	ticks := 10
	for i := 0; i <= ticks; i++ {
		t := end * int64(i) / int64(ticks)
		fmt.Fprintf(&b, `<text class="axis" text-anchor="middle" x="%.1f" y="%d">%s</text>`, x(t), height-6, time.Duration(t).Round(time.Millisecond))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
