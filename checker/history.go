package checker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Value is a value in a history: absent (JSON null), an integer or a
// string. Integers and strings never compare equal.
type Value struct {
	Kind ValueKind
	Int  int64
	Str  string
}

// ValueKind tells what a Value holds.
type ValueKind uint8

// The kinds of Value.
const (
	Null ValueKind = iota
	Integer
	String
)

// Str returns a string Value.
func Str(s string) Value { return Value{Kind: String, Str: s} }

// Int returns an integer Value.
func Int(i int64) Value { return Value{Kind: Integer, Int: i} }

// String renders the value as it would appear in the history: null, 4,
// "x".
func (v Value) String() string {
	switch v.Kind {
	case Integer:
		return strconv.FormatInt(v.Int, 10)
	case String:
		return strconv.Quote(v.Str)
	}
	return "null"
}

func (v Value) appendJSON(b []byte) []byte {
	switch v.Kind {
	case Integer:
		return strconv.AppendInt(b, v.Int, 10)
	case String:
		s, _ := json.Marshal(v.Str)
		return append(b, s...)
	}
	return append(b, "null"...)
}

func valueOf(raw json.RawMessage) (Value, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return Value{}, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Value{}, err
		}
		return Str(s), nil
	}
	i, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return Value{}, fmt.Errorf("value %s is not an integer, a string or null", raw)
	}
	return Int(i), nil
}

// Type is an event's type.
type Type string

// The event types of a history.
const (
	Invoke Type = "invoke"
	OK     Type = "ok"
	Fail   Type = "fail" // definitely did not take effect
	Info   Type = "info" // outcome unknown: may take effect at any later time, or never
)

// The operations a history may hold.
var functions = map[string]bool{"read": true, "write": true, "cas": true, "delete": true, "append": true}

// Event is one line of a history.
type Event struct {
	Process int
	Type    Type
	F       string // read, write, cas, delete, append
	Key     string
	HasKey  bool
	Value   Value // a cas's expected value
	New     Value // a cas's new value
	Time    int64
	Node    string // optional: the instance that served it
	Line    int    // 1-based line in the file it was read from
}

// History is a list of client operations' events in time order.
type History struct {
	Initial Value
	Events  []Event
	// Skipped counts lines that are not operations (a nemesis's, or an
	// unknown function's).
	Skipped int
}

// maxHistoryLine bounds one line of a history.
const maxHistoryLine = 1 << 20

// eventJSON is the shape of a history line.
type eventJSON struct {
	Process json.RawMessage `json:"process"`
	Type    Type            `json:"type"`
	F       string          `json:"f"`
	Key     *string         `json:"key"`
	Value   json.RawMessage `json:"value"`
	Time    *int64          `json:"time"`
	Node    string          `json:"node"`
}

// ParseHistory reads a history in the format of checker/README.md. It
// rejects what it cannot trust, naming the line: malformed JSON, unknown
// fields, a completion without an invoke, a second invoke while one is
// outstanding, a process that invokes again after an info, time going
// backwards. Lines that are not operations are skipped and counted.
func ParseHistory(r io.Reader) (*History, error) {
	h := &History{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxHistoryLine)
	open := map[int]*Event{}
	retired := map[int]int{} // process → line of its info
	var last int64
	line := 0
	first := true
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		fail := func(format string, args ...any) (*History, error) {
			return nil, fmt.Errorf("history line %d: %s", line, fmt.Sprintf(format, args...))
		}
		if first {
			first = false
			var init struct {
				Initial *json.RawMessage `json:"initial"`
			}
			if json.Unmarshal(b, &init) == nil && init.Initial != nil {
				if err := strictly(b, &init); err != nil {
					return fail("%v", err)
				}
				v, err := valueOf(*init.Initial)
				if err != nil {
					return fail("initial: %v", err)
				}
				h.Initial = v
				continue
			}
		}
		var j eventJSON
		if err := strictly(b, &j); err != nil {
			return fail("%v", err)
		}
		var proc int
		if err := json.Unmarshal(j.Process, &proc); err != nil {
			var s string
			if json.Unmarshal(j.Process, &s) == nil {
				h.Skipped++ // a nemesis or other named process
				continue
			}
			return fail("process %s is not an integer", j.Process)
		}
		if !functions[j.F] {
			h.Skipped++
			continue
		}
		e := Event{Process: proc, Type: j.Type, F: j.F, Node: j.Node, Line: line}
		if j.Key != nil {
			e.Key, e.HasKey = *j.Key, true
		}
		if j.Time != nil {
			e.Time = *j.Time
			if e.Time < last {
				return fail("time %d is before the previous line's %d", e.Time, last)
			}
			last = e.Time
		} else {
			e.Time = int64(line)
		}
		var err error
		if j.F == "cas" && !isNullOrEmpty(j.Value) {
			var pair []json.RawMessage
			if err := json.Unmarshal(j.Value, &pair); err != nil || len(pair) != 2 {
				return fail("a cas's value must be [expected, new], not %s", j.Value)
			}
			if e.Value, err = valueOf(pair[0]); err == nil {
				e.New, err = valueOf(pair[1])
			}
		} else {
			e.Value, err = valueOf(j.Value)
		}
		if err != nil {
			return fail("%v", err)
		}
		switch e.Type {
		case Invoke:
			if at, done := retired[proc]; done {
				return fail("process %d invokes again after its info on line %d; a client that lost track of an operation continues under a new process", proc, at)
			}
			if o := open[proc]; o != nil {
				return fail("process %d invokes while its %s from line %d is outstanding", proc, o.F, o.Line)
			}
			ev := e
			open[proc] = &ev
		case OK, Fail, Info:
			o := open[proc]
			if o == nil {
				return fail("process %d completes a %s it never invoked", proc, e.F)
			}
			if o.F != e.F || o.HasKey != e.HasKey || o.Key != e.Key {
				return fail("process %d completes %s %q but invoked %s %q on line %d", proc, e.F, e.Key, o.F, o.Key, o.Line)
			}
			delete(open, proc)
			if e.Type == Info {
				retired[proc] = line
			}
		default:
			return fail("type %q is not invoke, ok, fail or info", e.Type)
		}
		h.Events = append(h.Events, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("history line %d: %w", line+1, err)
	}
	return h, nil
}

func isNullOrEmpty(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// strictly decodes one JSON object into v, rejecting unknown fields and
// trailing data.
func strictly(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the object")
	}
	return nil
}

// Write writes h in the history format.
func (h *History) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if h.Initial.Kind != Null {
		bw.WriteString(`{"initial": `)
		bw.Write(h.Initial.appendJSON(nil))
		bw.WriteString("}\n")
	}
	var b []byte
	for i := range h.Events {
		b = h.Events[i].appendJSON(b[:0])
		bw.Write(b)
	}
	return bw.Flush()
}

func (e *Event) appendJSON(b []byte) []byte {
	b = append(b, `{"process": `...)
	b = strconv.AppendInt(b, int64(e.Process), 10)
	b = append(b, `, "type": "`...)
	b = append(b, e.Type...)
	b = append(b, `", "f": "`...)
	b = append(b, e.F...)
	b = append(b, '"')
	if e.HasKey {
		b = append(b, `, "key": `...)
		b = Str(e.Key).appendJSON(b)
	}
	b = append(b, `, "value": `...)
	if e.F == "cas" && (e.Value.Kind != Null || e.New.Kind != Null) {
		b = append(b, '[')
		b = e.Value.appendJSON(b)
		b = append(b, ", "...)
		b = e.New.appendJSON(b)
		b = append(b, ']')
	} else {
		b = e.Value.appendJSON(b)
	}
	b = append(b, `, "time": `...)
	b = strconv.AppendInt(b, e.Time, 10)
	if e.Node != "" {
		b = append(b, `, "node": `...)
		b = Str(e.Node).appendJSON(b)
	}
	return append(b, "}\n"...)
}

// Op is one operation: an invoke and its completion (or none, if the
// history ended first: then the outcome is unknown).
type Op struct {
	Process int
	F       string
	Key     string
	HasKey  bool
	Value   Value // write, append: the value; cas: expected; read: the value read (ok only)
	New     Value // cas: the new value
	Outcome Type  // OK, Fail or Info
	Call    int64
	Return  int64 // the completion's time; for an unknown outcome, the history's end
	Node    string
	Line    int // of the invoke
}

// Ops pairs invokes with completions, in invoke order. An operation
// without a completion is unknown (Info) and returns at the end. Only the
// key-value functions (read, write, cas, delete, append) count: a trace's
// object and queue operations, which their own checkers judge, are left
// out, as Read leaves them out of a history file.
func (h *History) Ops() []Op {
	var ops []Op
	open := map[int]int{}
	var end int64
	for _, e := range h.Events {
		end = max(end, e.Time)
		if !functions[e.F] {
			continue
		}
		switch e.Type {
		case Invoke:
			open[e.Process] = len(ops)
			ops = append(ops, Op{Process: e.Process, F: e.F, Key: e.Key, HasKey: e.HasKey, Value: e.Value, New: e.New,
				Outcome: Info, Call: e.Time, Return: -1, Line: e.Line})
		default:
			i := open[e.Process]
			delete(open, e.Process)
			o := &ops[i]
			o.Outcome, o.Node = e.Type, e.Node
			if e.Type != Info {
				o.Return = e.Time
			}
			if e.F == "read" {
				o.Value = e.Value
			}
		}
	}
	for i := range ops {
		if ops[i].Return < 0 {
			ops[i].Return = end + 1
		}
	}
	return ops
}

// Describe names the operation in an explanation: "read of k7 by process 3
// (on n2) at 12.3s".
func (o *Op) Describe() string {
	var b strings.Builder
	b.WriteString(o.F)
	switch o.F {
	case "write", "append":
		fmt.Fprintf(&b, " %s", o.Value)
	case "cas":
		fmt.Fprintf(&b, " %s→%s", o.Value, o.New)
	}
	if o.HasKey {
		fmt.Fprintf(&b, " of %s", o.Key)
	}
	fmt.Fprintf(&b, " by process %d", o.Process)
	if o.Node != "" {
		fmt.Fprintf(&b, " on %s", o.Node)
	}
	fmt.Fprintf(&b, " (invoked at %s", at(o.Call))
	switch o.Outcome {
	case OK:
		fmt.Fprintf(&b, ", ok at %s", at(o.Return))
	case Fail:
		fmt.Fprintf(&b, ", failed at %s", at(o.Return))
	default:
		b.WriteString(", outcome unknown")
	}
	b.WriteString(")")
	return b.String()
}
