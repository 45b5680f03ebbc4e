package handler

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/route"
)

func TestRunRouting(t *testing.T) {
	p := mustParse(t, `
routes:
  rules:
    - name: tests
      when: {header: {X-Test: "1"}}
      keys: quarantine
      stop: true
    - name: orders
      when: {field: {$.kind: order}}
      keys: [orders, audit]
chains:
  quarantine: [outbound: sink]
  orders: [set-type: Order]
  audit: [map: {audited: {const: true}}, set-type: Audit]
`)
	big := `{"kind":"order","x":"` + strings.Repeat("x", route.MaxPayloadSize) + `"}`
	tests := []struct {
		name string
		in   *Input
		want string
	}{
		{"two keys, in route order", &Input{Payload: []byte(`{"kind":"order"}`)},
			"Order/0 {\"kind\":\"order\"}\nAudit/0 {\"audited\":true,\"kind\":\"order\"}"},
		{"no rule matched", &Input{Payload: []byte(`{"kind":"other"}`)},
			`FAIL "" -1 "": no rule matched`},
		{"routing reads a bad payload", &Input{Payload: []byte(`[1]`)},
			`FAIL "" -1 "": the payload is not a JSON object: it is an array`},
		{"routed by a header, the payload is still checked", &Input{Headers: map[string]string{"x-test": "1"}, Payload: []byte(`"s"`)},
			`FAIL "" -1 "": the payload is not a JSON object: it is a string`},
		{"empty payload", &Input{Headers: map[string]string{"x-test": "1"}},
			`FAIL "" -1 "": the payload is not a JSON object: it is empty`},
		{"trailing data", &Input{Headers: map[string]string{"x-test": "1"}, Payload: []byte(`{} {}`)},
			`FAIL "" -1 "": the payload is not a JSON object: it has more after the value`},
		{"broken JSON", &Input{Headers: map[string]string{"x-test": "1"}, Payload: []byte(`{"a":}`)},
			`FAIL "" -1 "": the payload is not a JSON object: invalid character '}' looking for beginning of value`},
		{"too big, whatever the rules", &Input{Headers: map[string]string{"x-test": "1"}, Payload: []byte(big)},
			`FAIL "" -1 "": the payload is 1048599 bytes, over the limit of 1 MiB`},
		{"nil input", nil, `FAIL "" -1 "": no rule matched`},
		{"sent, not stored", &Input{Headers: map[string]string{"x-test": "1"}, Payload: []byte(`{"a":1}`)},
			`-> sink {"a":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := p.Run(tc.in, nil, testNow)
			checkOutcome(t, o)
			if got := summary(o); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
	o := p.Run(&Input{Payload: []byte(`{"kind":"order"}`)}, nil, testNow)
	if !reflect.DeepEqual(o.Keys, []string{"orders", "audit"}) || o.Steps != 3 {
		t.Errorf("Keys %v, Steps %d", o.Keys, o.Steps)
	}
	if o.Objects[0].Key != "orders" || o.Objects[1].Key != "audit" {
		t.Errorf("objects' keys: %+v", o.Objects)
	}
}

func TestRunChainsAreIndependent(t *testing.T) {
	p := mustParse(t, `
routes:
  rules: [{name: all, keys: [a, b]}]
chains:
  a: [rename: {x: y}, {map: {n.m: {const: 1}}}, outbound: out, set-type: A]
  b: [set-type: B]
`)
	o := p.Run(&Input{Payload: []byte(`{"x":1,"n":{}}`)}, nil, testNow)
	want := "-> out {\"n\":{\"m\":1},\"y\":1}\nA/0 {\"n\":{\"m\":1},\"y\":1}\nB/0 {\"n\":{},\"x\":1}"
	if got := summary(o); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if o.Outbound[0].Key != "a" {
		t.Errorf("outbound key %q", o.Outbound[0].Key)
	}
}

func TestRunFailsWhole(t *testing.T) {
	p := mustParse(t, `
routes:
  rules: [{name: all, keys: [a, b]}]
chains:
  a: [outbound: out, set-type: A]
  b: [drop: x, split: {field: l}, set-type: B]
`)
	o := p.Run(&Input{Payload: []byte(`{"l":"no"}`)}, nil, testNow)
	checkOutcome(t, o)
	if want := `FAIL "b" 1 "split": chain b, step 1 (split): l is a string, not an array`; summary(o) != want {
		t.Errorf("got %s, want %s", summary(o), want)
	}
	if o.Steps != 4 {
		t.Errorf("Steps = %d, want 4", o.Steps)
	}
}

func TestRunHeaders(t *testing.T) {
	p := mustParse(t, chainOf("- map: {a: {header: content-type}, b: {header: X-REQUEST-ID}, c: {header: x-dup}}", "- set-type: T"))
	in := &Input{Headers: map[string]string{"CONTENT-TYPE": "json", "x-request-id": "r1", "X-Dup": "first", "x-dup": "second"}, Payload: []byte(`{}`)}
	if got, want := summary(p.Run(in, nil, testNow)), `T/0 {"a":"json","b":"r1","c":"first"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for in, want := range map[string]string{
		"content-type": "Content-Type", "X-REQUEST-ID": "X-Request-Id", "x": "X", "a--b": "A--B",
		"-x": "-X", "x1-y": "X1-Y", "bad name": "bad name", "": "", "ü-x": "ü-x",
	} {
		if got := canonicalHeader(in); got != want {
			t.Errorf("canonicalHeader(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRunGoHandlers(t *testing.T) {
	tests := []struct {
		name  string
		steps []string
		want  string
	}{
		{"changes", []string{"- test-upper", "- set-type: T"}, `T/0 {"name":"ADA"}`},
		{"panics", []string{"- test-panic", "- set-type: T"},
			`FAIL "k" 0 "test-panic": chain k, step 0 (test-panic): handler test-panic panicked: interface conversion: interface {} is nil, not []interface {}`},
		{"fails", []string{"- set-type: T", "- test-fail"}, `FAIL "k" 1 "test-fail": chain k, step 1 (test-fail): no good`},
		// Were the two one message, the second map would copy the first's
		// copy along.
		{"returns one message twice", []string{"- test-twice", "- map: {copy: $}", "- set-type: T"},
			"T/0 {\"copy\":{\"name\":\"ada\"},\"name\":\"ada\"}\nT/0 {\"copy\":{\"name\":\"ada\"},\"name\":\"ada\"}"},
		{"returns nil", []string{"- test-nil", "- set-type: T"},
			`FAIL "k" 0 "test-nil": chain k, step 0 (test-nil): handler test-nil returned a nil message`},
		{"Go values become JSON", []string{"- set-type: T", "- test-go-values", "- map: {id: {message: id}, key: {message: key}, h: {header: X-New}}"},
			`T/0 {"f":2.5,"h":"1","i":3,"id":"m1","key":"k","s":["a"],"t":"2025-03-01T12:00:00Z"}`},
		{"a value JSON cannot hold", []string{"- test-chan", "- set-type: T"},
			`FAIL "k" 0 "test-chan": chain k, step 0 (test-chan): handler test-chan returned a message whose Fields is no JSON: json: unsupported type: chan int`},
		{"params are copies", []string{"- test-params: {a: [1, x]}", "- test-params: {a: [1, x]}", "- set-type: T"},
			`T/0 {"name":"ada","params":{"a":[1,"x"]}}`},
		{"sent survives a Go handler", []string{"- outbound: o", "- test-upper"},
			`-> o {"name":"ada"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, chainOf(tc.steps...))
			o := p.Run(&Input{ID: "m1", Payload: []byte(`{"name":"ada"}`)}, testLookup, testNow)
			checkOutcome(t, o)
			if got := summary(o); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestRunLookupLimit(t *testing.T) {
	run := func(steps ...string) string {
		p := mustParse(t, chainOf(append(steps, "- set-type: T")...))
		return summary(p.Run(&Input{Payload: []byte(`{"cid":"c1"}`)}, testLookup, testNow))
	}
	if got := run(fmt.Sprintf("- test-lookups: %d", MaxLookups)); got != `T/0 {"cid":"c1"}` {
		t.Errorf("%d lookups: %s", MaxLookups, got)
	}
	// The handler ignores the refusal; the message fails anyway.
	want := `FAIL "k" 0 "test-lookups": chain k, step 0 (test-lookups): more than 64 lookups for one message (MaxLookups)`
	if got := run(fmt.Sprintf("- test-lookups: %d", MaxLookups+1)); got != want {
		t.Errorf("%d lookups: %s", MaxLookups+1, got)
	}
	// Lookups count across steps (and chains) of one message.
	want = `FAIL "k" 1 "enrich": chain k, step 1 (enrich): more than 64 lookups for one message (MaxLookups)`
	if got := run(fmt.Sprintf("- test-lookups: %d", MaxLookups), "- enrich: {type: Customer, key: {id: $.cid}, into: c}"); got != want {
		t.Errorf("%d lookups and an enrich: %s", MaxLookups, got)
	}
}

// lines returns a payload whose field l holds n objects.
func lines(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"c":"x","l":[`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"i":%d}`, i)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

func TestRunMessageLimit(t *testing.T) {
	p := mustParse(t, chainOf("- split: {field: l, keep: [c]}", "- set-type: T"))
	o := p.Run(&Input{Payload: lines(MaxMessages)}, nil, testNow)
	if o.Failure != nil || len(o.Objects) != MaxMessages {
		t.Fatalf("a split into %d: %s", MaxMessages, o.Failure.Reason)
	}
	o = p.Run(&Input{Payload: lines(MaxMessages + 1)}, nil, testNow)
	if want := `FAIL "k" 0 "split": chain k, step 0 (split): 1024 more messages would make more than 1024 for one inbound message (MaxMessages)`; summary(o) != want {
		t.Errorf("a split into %d: %s", MaxMessages+1, summary(o))
	}
	// Go handlers that fan out count too, as do the chains' own messages.
	two := mustParse(t, `
routes:
  rules: [{name: all, keys: [a, b]}]
chains:
  a: [split: {field: l}, set-type: A]
  b: [test-twice, set-type: B]
`)
	o = two.Run(&Input{Payload: lines(MaxMessages - 2)}, nil, testNow)
	if o.Failure != nil || len(o.Objects) != MaxMessages {
		t.Fatalf("%d messages: %v", MaxMessages, o.Failure)
	}
	o = two.Run(&Input{Payload: lines(MaxMessages - 1)}, nil, testNow)
	if want := `FAIL "b" 0 "test-twice": chain b, step 0 (test-twice): 1 more messages would make more than 1024 for one inbound message (MaxMessages)`; summary(o) != want {
		t.Errorf("%d messages: %s", MaxMessages+1, summary(o))
	}
	o = two.Run(&Input{Payload: lines(MaxMessages)}, nil, testNow)
	if want := `FAIL "b" 0 "test-twice": chain b, step 0 (test-twice): 1 more messages would make more than 1024 for one inbound message (MaxMessages)`; summary(o) != want {
		t.Errorf("%d messages before chain b starts: %s", MaxMessages, summary(o))
	}
}

func TestRunOutputLimit(t *testing.T) {
	payload := []byte(`{"s":"` + strings.Repeat("x", 1<<20-16) + `"}`)
	steps := func(n int) string {
		var s []string
		for range n {
			s = append(s, "- outbound: o")
		}
		return chainOf(append(s, "- set-type: T")...)
	}
	// Seven copies out and one stored fit in 8 MiB; one more does not.
	o := mustParse(t, steps(7)).Run(&Input{Payload: payload}, nil, testNow)
	if o.Failure != nil {
		t.Fatalf("8 copies: %s", o.Failure.Reason)
	}
	o = mustParse(t, steps(8)).Run(&Input{Payload: payload}, nil, testNow)
	if want := `FAIL "k" 9 "": chain k, end: the objects and outbound messages of one inbound message are over 8 MiB (MaxOutputBytes)`; summary(o) != want {
		t.Errorf("9 copies: %s", summary(o))
	}
	o = mustParse(t, steps(9)).Run(&Input{Payload: payload}, nil, testNow)
	if want := `FAIL "k" 8 "outbound": chain k, step 8 (outbound): the objects and outbound messages of one inbound message are over 8 MiB (MaxOutputBytes)`; summary(o) != want {
		t.Errorf("10 copies: %s", summary(o))
	}
}

func TestRunEndOfChain(t *testing.T) {
	runBuiltinCases(t, []builtinCase{
		{"no type", []string{"- drop: x"}, `{}`, nil,
			`FAIL "k" 1 "": chain k, end: reached the end of chain k without a type: add set-type, or filter it out`},
		{"nothing left", []string{"- split: {field: l}"}, `{"l":[]}`, nil, ``},
	})
	// A Go handler may set what set-type would not.
	p := mustParse(t, chainOf("- test-bad-type"))
	if got, want := summary(p.Run(&Input{Payload: []byte(`{"t":"lower"}`)}, nil, testNow)),
		`FAIL "k" 1 "": chain k, end: type "lower" is not valid: a type name is letters, digits and _ (at most 64), starting with an upper-case letter`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := summary(p.Run(&Input{Payload: []byte(`{"t":"Upper"}`)}, nil, testNow)),
		`FAIL "k" 1 "": chain k, end: version -1 of Upper is not valid: 0 (the latest) or more`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestRunRoutesWithoutChain(t *testing.T) {
	p := mustParse(t, chainOf("- set-type: T"))
	other, err := route.Parse("r.yaml", []byte("default: elsewhere\n"))
	if err != nil {
		t.Fatal(err)
	}
	p.Routes = other
	if got, want := summary(p.Run(&Input{Payload: []byte(`{}`)}, nil, testNow)), `FAIL "elsewhere" -1 "": routing key "elsewhere" has no chain`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
