package env

import (
	"strings"
	"testing"
)

func TestReadTraceErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ trace, want string }{
		{"{\"time\":0,\"node\":\"world\",\"kind\":\"a\"}\nnot json\n", "trace line 2"},
		{"{\"time\":5,\"node\":\"world\",\"kind\":\"a\"}\n{\"time\":4,\"node\":\"world\",\"kind\":\"b\"}\n", "trace line 2: time 4 is before the previous line's 5"},
		{"{\"time\":0,\"node\":\"world\",\"kind\":\"a\"}\n" + strings.Repeat("x", MaxTraceLine+1) + "\n", "trace line 2"},
	} {
		if _, err := ReadTrace(strings.NewReader(tc.trace)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadTrace: %v, want an error containing %q", err, tc.want)
		}
	}
}
