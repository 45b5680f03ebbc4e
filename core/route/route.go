package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/shoaldb/shoal/core/jsonvalue"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Message is what routing sees of a message a connector handed in.
type Message struct {
	Connector string
	Headers   map[string]string // single values; keys any case
	Payload   []byte            // a JSON object, or nil
}

// Result is where a message goes.
type Result struct {
	Keys    []string // in rule order, without repeats; nil when none
	Rules   []string // the names of the rules that matched, in order
	Default bool     // Keys is the default route
	Reason  string   // when Keys is nil: why ("no rule matched", or "the payload is not a JSON object: ...")
}

// Reasons a result has no keys.
const (
	ReasonNoMatch = "no rule matched"
	// ReasonNotObject starts the reason of a payload that a field
	// condition could not read.
	ReasonNotObject = "the payload is not a JSON object: "
)

// Route applies the rules to m. A nil m routes as an empty message.
func (r *Rules) Route(m *Message) Result {
	if m == nil {
		m = &Message{}
	}
	ev := evaluator{m: m}
	var res Result
	var seen map[string]bool
	for i := range r.rules {
		ru := &r.rules[i]
		ok, bad := ev.holds(ru.when)
		if bad != "" {
			return Result{Reason: bad}
		}
		if !ok {
			continue
		}
		res.Rules = append(res.Rules, ru.name)
		for _, k := range ru.keys {
			if seen[k] {
				continue
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[k] = true
			res.Keys = append(res.Keys, k)
		}
		if ru.stop {
			break
		}
	}
	if res.Keys == nil {
		if r.def != "" {
			res.Keys = []string{r.def}
			res.Default = true
		} else {
			res.Reason = ReasonNoMatch
		}
	}
	return res
}

// evaluator routes one message: it reads the headers and the payload
// the first time a condition needs them, and keeps what it read.
type evaluator struct {
	m *Message

	headers map[string]string // lower-case names; nil until read

	parsed  bool
	payload map[string]any // nil for a nil or empty payload
	bad     string         // why the payload cannot be read, once parsed
}

// holds reports whether c holds, or why the message cannot be routed.
func (ev *evaluator) holds(c *cond) (bool, string) {
	if c == nil {
		return true, ""
	}
	if c.connectors != nil && !slices.Contains(c.connectors, ev.m.Connector) {
		return false, ""
	}
	for _, h := range c.headers {
		v, ok := ev.header(h.name)
		if !ok || !slices.Contains(h.values, v) {
			return false, ""
		}
	}
	if len(c.fields) > 0 {
		if bad := ev.parse(); bad != "" {
			return false, bad
		}
		for i := range c.fields {
			if !ev.field(&c.fields[i]) {
				return false, ""
			}
		}
	}
	if c.any != nil {
		found := false
		for _, alt := range c.any {
			ok, bad := ev.holds(alt)
			if bad != "" {
				return false, bad
			}
			if ok {
				found = true
				break
			}
		}
		if !found {
			return false, ""
		}
	}
	if c.not != nil {
		ok, bad := ev.holds(c.not)
		if bad != "" || ok {
			return false, bad
		}
	}
	return true, ""
}

// header returns the value of the header named lower (in lower case). Of
// two header names that differ only in case, the one sorting first wins.
func (ev *evaluator) header(lower string) (string, bool) {
	if ev.headers == nil {
		ev.headers = make(map[string]string, len(ev.m.Headers))
		for _, k := range slices.Sorted(maps.Keys(ev.m.Headers)) {
			lk := strings.ToLower(k)
			if _, dup := ev.headers[lk]; !dup {
				ev.headers[lk] = ev.m.Headers[k]
			}
		}
	}
	v, ok := ev.headers[lower]
	return v, ok
}

// parse reads the payload, once, and returns why it cannot be read.
func (ev *evaluator) parse() string {
	if ev.parsed {
		return ev.bad
	}
	ev.parsed = true
	data := ev.m.Payload
	if len(data) == 0 {
		return ""
	}
	if len(data) > MaxPayloadSize {
		ev.bad = "the payload is " + strconv.Itoa(len(data)) + " bytes, over the limit of 1 MiB"
		return ev.bad
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		ev.bad = ReasonNotObject + err.Error()
		return ev.bad
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		ev.bad = ReasonNotObject + "it has more after the value"
		return ev.bad
	}
	obj, ok := v.(map[string]any)
	if !ok {
		ev.bad = ReasonNotObject + "it is " + jsonvalue.Kind(v)
		return ev.bad
	}
	ev.payload = obj
	return ""
}

// field reports whether the payload passes fc's checks.
func (ev *evaluator) field(fc *fieldCond) bool {
	v, found := fc.path.lookup(ev.payload)
	val := toScalar(v)
	for i := range fc.checks {
		if !fc.checks[i].holds(v, val, found) {
			return false
		}
	}
	return true
}

// toScalar turns a decoded JSON value into a scalar to compare.
func toScalar(v any) scalar {
	switch v := v.(type) {
	case nil:
		return scalar{kind: kindNull}
	case bool:
		return scalar{kind: kindBool, b: v}
	case json.Number:
		// Out of range, ParseFloat returns ±Inf with its error: the
		// package doc promises that.
		f, _ := strconv.ParseFloat(string(v), 64)
		return scalar{kind: kindNumber, n: f}
	case string:
		return scalar{kind: kindString, s: v}
	}
	return scalar{kind: kindOther}
}

// holds applies one check to the value v (val as a scalar), found or not.
func (c *check) holds(v any, val scalar, found bool) bool {
	if c.op == "exists" {
		return found == c.exists
	}
	if !found {
		return false
	}
	switch c.op {
	case "eq":
		return val.equal(c.operand)
	case "ne":
		return val.kind == c.operand.kind && !val.equal(c.operand)
	case "in":
		for _, s := range c.values {
			if val.equal(s) {
				return true
			}
		}
		return false
	case "prefix":
		return val.kind == kindString && strings.HasPrefix(val.s, c.operand.s)
	case "suffix":
		return val.kind == kindString && strings.HasSuffix(val.s, c.operand.s)
	case "contains":
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				if toScalar(e).equal(c.operand) {
					return true
				}
			}
			return false
		}
		return val.kind == kindString && c.operand.kind == kindString && strings.Contains(val.s, c.operand.s)
	}
	cmp, ok := val.order(c.operand)
	if !ok {
		return false
	}
	switch c.op {
	case "gt":
		return cmp > 0
	case "ge":
		return cmp >= 0
	case "lt":
		return cmp < 0
	case "le":
		return cmp <= 0
	}
	panic("route: unknown operator " + c.op)
}
