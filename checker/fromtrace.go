package checker

import (
	"github.com/shoaldb/shoal/core/env"
)

// FromTrace extracts the clients' history from a simulator trace: the
// client.invoke, client.ok, client.fail and client.info events
// (simnet/README.md). Times are the trace's virtual nanoseconds.
func FromTrace(trace []env.Record) *History {
	h := &History{}
	for i := range trace {
		r := &trace[i]
		var typ Type
		switch r.Kind {
		case "client.invoke":
			typ = Invoke
		case "client.ok":
			typ = OK
		case "client.fail":
			typ = Fail
		case "client.info":
			typ = Info
		default:
			continue
		}
		proc, _ := r.Int("process")
		f, _ := r.Str("f")
		key, _ := r.Str("key")
		e := Event{Process: int(proc), Type: typ, F: f, Key: key, HasKey: true, Time: r.Time, Line: len(h.Events) + 1}
		value := traceValue(r, "value", "absent")
		switch {
		case f == "cas":
			e.Value, e.New = traceValue(r, "expected", "expected_absent"), value
		case f == "read" && typ != OK:
			// A read's value is known only once it returns.
		default:
			e.Value = value
		}
		if typ == OK {
			e.Node, _ = r.Str("note")
		}
		h.Events = append(h.Events, e)
	}
	return h
}

// traceValue reads a value and its absence flag from a client event.
func traceValue(r *env.Record, key, absentKey string) Value {
	if f, ok := r.Get(absentKey); ok && f.Value() == true {
		return Value{}
	}
	s, _ := r.Str(key)
	return Str(s)
}
