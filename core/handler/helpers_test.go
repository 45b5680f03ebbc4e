package handler

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Go handlers the tests name; registered once per test binary.
func init() {
	Register("test-upper", func(c *Context, m *Message) ([]*Message, error) {
		if s, ok := m.Fields["name"].(string); ok {
			m.Fields["name"] = strings.ToUpper(s)
		}
		return []*Message{m}, nil
	})
	Register("test-panic", func(c *Context, m *Message) ([]*Message, error) {
		_ = m.Fields["list"].([]any) // the tests give it no list
		return nil, nil
	})
	Register("test-fail", func(c *Context, m *Message) ([]*Message, error) {
		return nil, errors.New("no good")
	})
	// test-twice returns the same message twice: the copies must not share.
	Register("test-twice", func(c *Context, m *Message) ([]*Message, error) {
		return []*Message{m, m}, nil
	})
	Register("test-nil", func(c *Context, m *Message) ([]*Message, error) {
		return []*Message{nil}, nil
	})
	// test-go-values sets Go values that are no json.Number, changes
	// what it may not and makes a fresh message.
	Register("test-go-values", func(c *Context, m *Message) ([]*Message, error) {
		return []*Message{{
			ID: "other", Key: "other", Type: m.Type,
			Headers: map[string]string{"x-new": "1"},
			Fields:  map[string]any{"i": 3, "f": 2.5, "s": []string{"a"}, "t": c.Now()},
		}}, nil
	})
	Register("test-chan", func(c *Context, m *Message) ([]*Message, error) {
		m.Fields["c"] = make(chan int)
		return []*Message{m}, nil
	})
	// test-lookups looks up as often as its params say, ignoring errors.
	Register("test-lookups", func(c *Context, m *Message) ([]*Message, error) {
		n, _ := c.Params().(json.Number).Int64()
		for range min(n, MaxLookups+10) {
			c.Lookup("Customer", map[string]any{"id": "c1"}) //nolint:errcheck // the point of the handler
		}
		return []*Message{m}, nil
	})
	// test-params stores its params, then changes them (which must
	// reach neither what it stored nor the next call).
	Register("test-params", func(c *Context, m *Message) ([]*Message, error) {
		m.Fields["params"] = c.Params()
		if mp, ok := c.Params().(map[string]any); ok {
			mp["changed"] = true
		}
		return []*Message{m}, nil
	})
	// test-bad-type sets what set-type would not.
	Register("test-bad-type", func(c *Context, m *Message) ([]*Message, error) {
		m.Type, m.Version = m.Fields["t"].(string), -1
		return []*Message{m}, nil
	})
	RegisterChecked("test-check-panics", func(params any) error {
		return params.(error) // never an error: it panics
	}, func(c *Context, m *Message) ([]*Message, error) {
		return []*Message{m}, nil
	})
	RegisterChecked("test-checked", func(params any) error {
		mp, ok := params.(map[string]any)
		if !ok {
			return fmt.Errorf("wants a mapping with n, got %T", params)
		}
		if _, ok := mp["n"].(json.Number); !ok {
			return errors.New("n must be a number")
		}
		return nil
	}, func(c *Context, m *Message) ([]*Message, error) {
		return []*Message{m}, nil
	})
}

// mapLookup is a Lookup over objects by type and canonical key JSON.
type mapLookup map[string]string

func (l mapLookup) Object(typ string, key map[string]any) (map[string]any, bool, error) {
	k, err := encode(key)
	if err != nil {
		return nil, false, err
	}
	src, ok := l[typ+" "+string(k)]
	if !ok {
		return nil, false, nil
	}
	obj, why := decodeObject([]byte(src))
	if why != "" {
		return nil, false, errors.New(why)
	}
	return obj, true, nil
}

// errLookup fails every lookup.
type errLookup struct{}

func (errLookup) Object(string, map[string]any) (map[string]any, bool, error) {
	return nil, false, errors.New("disk on fire")
}

var testLookup = mapLookup{
	`Customer {"id":"c1"}`: `{"id":"c1","first_name":"Ada","email":"ada@example.com","tier":"gold","created":"2024-01-01T00:00:00Z"}`,
	`Customer {"id":"c2"}`: `{"id":"c2","first_name":"Bob","tier":"basic"}`,
}

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func mustParse(t testing.TB, src string) *Pipeline {
	t.Helper()
	p, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v\n%s", err, src)
	}
	return p
}

// chainOf builds a pipeline routing every message to the one chain k,
// of the given steps (YAML list items, one a line).
func chainOf(steps ...string) string {
	var b strings.Builder
	b.WriteString("routes: {default: k}\nchains:\n  k:\n")
	for _, s := range steps {
		b.WriteString("    " + s + "\n")
	}
	return b.String()
}

// summary writes an outcome as lines a test can compare: each object as
// TYPE/VERSION JSON, each outbound message as -> DESTINATION JSON, or
// the failure as FAIL key step handler: reason.
func summary(o Outcome) string {
	if o.Failure != nil {
		f := o.Failure
		return fmt.Sprintf("FAIL %q %d %q: %s", f.Key, f.Step, f.Handler, f.Reason)
	}
	var lines []string
	for _, ob := range o.Outbound {
		lines = append(lines, fmt.Sprintf("-> %s %s", ob.Destination, ob.Value))
	}
	for _, ob := range o.Objects {
		lines = append(lines, fmt.Sprintf("%s/%d %s", ob.Type, ob.Version, ob.Value))
	}
	return strings.Join(lines, "\n")
}

// fataler is what checkOutcome needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkOutcome checks what every outcome promises.
func checkOutcome(t fataler, o Outcome) {
	t.Helper()
	if o.Failure != nil {
		if o.Keys != nil || o.Objects != nil || o.Outbound != nil {
			t.Fatalf("a failure with effects: %+v", o)
		}
		if f := o.Failure; f.Reason == "" || f.Step < -1 || f.Step == -1 && f.Handler != "" || f.Step >= 0 && f.Key == "" {
			t.Fatalf("malformed failure %+v", o.Failure)
		}
		return
	}
	if len(o.Keys) == 0 {
		t.Fatalf("effects without routing keys: %+v", o)
	}
	total := 0
	for _, ob := range o.Objects {
		v, why := decodeObject(ob.Value)
		if ob.Type == "" || ob.Version < 0 || why != "" || v == nil {
			t.Fatalf("malformed object %s/%d %s", ob.Type, ob.Version, ob.Value)
		}
		total += len(ob.Value)
	}
	for _, ob := range o.Outbound {
		v, why := decodeObject(ob.Value)
		if ob.Destination == "" || why != "" || v == nil {
			t.Fatalf("malformed outbound message %s %s", ob.Destination, ob.Value)
		}
		total += len(ob.Value)
	}
	if total > MaxOutputBytes || len(o.Objects) > MaxMessages {
		t.Fatalf("over the limits: %d bytes, %d objects", total, len(o.Objects))
	}
}
