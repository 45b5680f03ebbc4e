package checker

import (
	"bufio"
	"fmt"
	"io"

	"github.com/shoaldb/shoal/core/env"
)

// maxTraceLine bounds one trace line; the simulator's lines are far
// shorter, so a longer one means the input is not a trace.
const maxTraceLine = 1 << 20

// ReadTrace parses a trace in the JSON Lines format of simnet/README.md. An
// error names the line.
func ReadTrace(r io.Reader) ([]env.Record, error) {
	var out []env.Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxTraceLine)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		rec, err := env.ParseRecord(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("trace line %d: %w", line, err)
		}
		if n := len(out); n > 0 && rec.Time < out[n-1].Time {
			return nil, fmt.Errorf("trace line %d: time %d is before the previous line's %d", line, rec.Time, out[n-1].Time)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trace line %d: %w", line+1, err)
	}
	return out, nil
}
