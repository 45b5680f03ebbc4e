package env

import (
	"bufio"
	"fmt"
	"io"
)

// MaxTraceLine bounds one trace line; the simulator's lines are far
// shorter, so a longer one means the input is not a trace.
const MaxTraceLine = 1 << 20

// ReadTrace parses a trace in the JSON Lines format of simnet/README.md,
// whose times must not decrease. An error names the line.
func ReadTrace(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxTraceLine)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		rec, err := ParseRecord(sc.Bytes())
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
