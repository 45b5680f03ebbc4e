package route

import (
	"reflect"
	"strings"
	"testing"
)

func mustParse(t testing.TB, src string) *Rules {
	t.Helper()
	r, err := Parse("rules.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return r
}

// one builds a file of a single rule "r" with the given when mapping
// (flow YAML) assigning key k, and no default.
func one(when string) string {
	return "rules:\n  - name: r\n    when: " + when + "\n    keys: k\n"
}

func TestRouteConditions(t *testing.T) {
	crm := func(payload string) *Message {
		return &Message{Connector: "crm", Headers: map[string]string{"X-Kind": "customer", "x-test": "1"}, Payload: []byte(payload)}
	}
	p := func(payload string) *Message { return &Message{Payload: []byte(payload)} }
	tests := []struct {
		name  string
		when  string
		msg   *Message
		match bool
	}{
		{"connector", `{connector: crm}`, crm(""), true},
		{"connector other", `{connector: kafka}`, crm(""), false},
		{"connector list", `{connector: [kafka, crm]}`, crm(""), true},
		{"header", `{header: {X-Kind: customer}}`, crm(""), true},
		{"header case", `{header: {x-kind: customer, X-TEST: "1"}}`, crm(""), true},
		{"header unquoted number", `{header: {X-Test: 1}}`, crm(""), true},
		{"header value case matters", `{header: {X-Kind: Customer}}`, crm(""), false},
		{"header list", `{header: {X-Kind: [order, customer]}}`, crm(""), true},
		{"header absent", `{header: {X-Other: customer}}`, crm(""), false},
		{"eq string", `{field: {$.type: customer}}`, p(`{"type":"customer"}`), true},
		{"eq string differs", `{field: {$.type: customer}}`, p(`{"type":"order"}`), false},
		{"eq number", `{field: {$.n: 1}}`, p(`{"n":1.0}`), true},
		{"eq number exponent", `{field: {$.n: 100}}`, p(`{"n":1e2}`), true},
		{"eq bool", `{field: {$.b: true}}`, p(`{"b":true}`), true},
		{"eq null", `{field: {$.z: null}}`, p(`{"z":null}`), true},
		{"eq null missing", `{field: {$.z: null}}`, p(`{}`), false},
		{"eq op", `{field: {$.a: {eq: x}}}`, p(`{"a":"x"}`), true},
		{"eq kind mismatch", `{field: {$.n: "1"}}`, p(`{"n":1}`), false},
		{"eq number vs string", `{field: {$.n: 1}}`, p(`{"n":"1"}`), false},
		{"eq object", `{field: {$.o: x}}`, p(`{"o":{"a":1}}`), false},
		{"eq date is a string", `{field: {$.d: 2024-01-01}}`, p(`{"d":"2024-01-01"}`), true},
		{"ne", `{field: {$.a: {ne: x}}}`, p(`{"a":"y"}`), true},
		{"ne equal", `{field: {$.a: {ne: x}}}`, p(`{"a":"x"}`), false},
		{"ne kind mismatch", `{field: {$.a: {ne: x}}}`, p(`{"a":1}`), false},
		{"ne missing", `{field: {$.a: {ne: x}}}`, p(`{}`), false},
		{"in", `{field: {$.a: {in: [1, x, true]}}}`, p(`{"a":"x"}`), true},
		{"in number", `{field: {$.a: {in: [1, x]}}}`, p(`{"a":1}`), true},
		{"in none", `{field: {$.a: {in: [1, x]}}}`, p(`{"a":"1"}`), false},
		{"prefix", `{field: {$.s: {prefix: crm-}}}`, p(`{"s":"crm-eu"}`), true},
		{"prefix no", `{field: {$.s: {prefix: crm-}}}`, p(`{"s":"erp-crm-"}`), false},
		{"prefix number", `{field: {$.s: {prefix: "1"}}}`, p(`{"s":12}`), false},
		{"suffix", `{field: {$.s: {suffix: .eu}}}`, p(`{"s":"shop.eu"}`), true},
		{"suffix no", `{field: {$.s: {suffix: .eu}}}`, p(`{"s":"shop.us"}`), false},
		{"contains string", `{field: {$.s: {contains: vip}}}`, p(`{"s":"a-vip-b"}`), true},
		{"contains string no", `{field: {$.s: {contains: vip}}}`, p(`{"s":"a-b"}`), false},
		{"contains array", `{field: {$.tags: {contains: vip}}}`, p(`{"tags":["new","vip"]}`), true},
		{"contains array number", `{field: {$.ns: {contains: 3}}}`, p(`{"ns":[1,2,3.0]}`), true},
		{"contains array no", `{field: {$.tags: {contains: vip}}}`, p(`{"tags":["vipx"]}`), false},
		{"contains number", `{field: {$.n: {contains: 1}}}`, p(`{"n":1}`), false},
		{"gt", `{field: {$.amount: {gt: 100}}}`, p(`{"amount":100.5}`), true},
		{"gt equal", `{field: {$.amount: {gt: 100}}}`, p(`{"amount":100}`), false},
		{"ge equal", `{field: {$.amount: {ge: 100}}}`, p(`{"amount":100}`), true},
		{"lt", `{field: {$.amount: {lt: 0}}}`, p(`{"amount":-0.5}`), true},
		{"le equal", `{field: {$.amount: {le: -1.5}}}`, p(`{"amount":-1.5}`), true},
		{"le greater", `{field: {$.amount: {le: -1.5}}}`, p(`{"amount":-1}`), false},
		{"range", `{field: {$.amount: {ge: 10, lt: 20}}}`, p(`{"amount":15}`), true},
		{"range out", `{field: {$.amount: {ge: 10, lt: 20}}}`, p(`{"amount":20}`), false},
		{"gt string", `{field: {$.t: {gt: "2024-01-01"}}}`, p(`{"t":"2024-02-01T00:00:00Z"}`), true},
		{"gt string vs number", `{field: {$.amount: {gt: 100}}}`, p(`{"amount":"200"}`), false},
		{"gt huge number", `{field: {$.amount: {gt: 1e300}}}`, p(`{"amount":1e400}`), true},
		{"gt missing", `{field: {$.amount: {gt: 100}}}`, p(`{}`), false},
		{"exists", `{field: {$.a: {exists: true}}}`, p(`{"a":null}`), true},
		{"exists missing", `{field: {$.a: {exists: true}}}`, p(`{}`), false},
		{"exists false missing", `{field: {$.a: {exists: false}}}`, p(`{"b":1}`), true},
		{"exists false present", `{field: {$.a: {exists: false}}}`, p(`{"a":1}`), false},
		{"exists false nil payload", `{field: {$.a: {exists: false}}}`, &Message{}, true},
		{"nested path", `{field: {$.a.b: 1}}`, p(`{"a":{"b":1}}`), true},
		{"index path", `{field: {"$.items[1].sku": x}}`, p(`{"items":[{"sku":"y"},{"sku":"x"}]}`), true},
		{"index out of range", `{field: {"$.items[2].sku": {exists: false}}}`, p(`{"items":[{"sku":"y"},{"sku":"x"}]}`), true},
		{"index on object", `{field: {"$.items[0]": {exists: true}}}`, p(`{"items":{"0":1}}`), false},
		{"name on array", `{field: {$.items.sku: {exists: true}}}`, p(`{"items":[{"sku":1}]}`), false},
		{"quoted name", `{field: {'$["a.b"]': 1}}`, p(`{"a.b":1}`), true},
		{"through a scalar", `{field: {$.a.b: {exists: false}}}`, p(`{"a":"s"}`), true},
		{"all must hold", `{connector: crm, field: {$.type: customer}}`, crm(`{"type":"order"}`), false},
		{"any first", `{any: [{field: {$.k: a}}, {field: {$.k: b}}]}`, p(`{"k":"a"}`), true},
		{"any second", `{any: [{field: {$.k: a}}, {field: {$.k: b}}]}`, p(`{"k":"b"}`), true},
		{"any none", `{any: [{field: {$.k: a}}, {field: {$.k: b}}]}`, p(`{"k":"c"}`), false},
		{"not", `{not: {header: {X-Test: "1"}}}`, crm(""), false},
		{"not holds", `{not: {header: {X-Test: "2"}}}`, crm(""), true},
		{"not not", `{not: {not: {connector: crm}}}`, crm(""), true},
		{"duplicate json key keeps last", `{field: {$.a: 2}}`, p(`{"a":1,"a":2}`), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustParse(t, one(tc.when))
			got := r.Route(tc.msg)
			if tc.match {
				want := Result{Keys: []string{"k"}, Rules: []string{"r"}}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Route = %+v, want %+v", got, want)
				}
			} else if got.Keys != nil || got.Reason != ReasonNoMatch {
				t.Errorf("Route = %+v, want no match", got)
			}
		})
	}
}

const pipeline = `
default: fallback
rules:
  - name: tests
    when: {header: {X-Test: "1"}}
    keys: [quarantine]
    stop: true
  - name: customers
    when:
      connector: crm
      field: {$.type: customer}
    keys: [customers, audit]
  - name: big
    when: {field: {$.amount: {gt: 1000}}}
    keys: [audit, review]
  - name: everything
    keys: everything
    stop: true
  - name: never
    keys: never
`

func TestRoute(t *testing.T) {
	r := mustParse(t, pipeline)
	tests := []struct {
		name  string
		rules *Rules
		msg   *Message
		want  Result
	}{
		{"stop at the first", r, &Message{Connector: "crm", Headers: map[string]string{"x-test": "1"}, Payload: []byte(`{"type":"customer"}`)},
			Result{Keys: []string{"quarantine"}, Rules: []string{"tests"}}},
		{"keys in order without repeats", r, &Message{Connector: "crm", Payload: []byte(`{"type":"customer","amount":5000}`)},
			Result{Keys: []string{"customers", "audit", "review", "everything"}, Rules: []string{"customers", "big", "everything"}}},
		{"catch-all stops", r, &Message{Connector: "kafka", Payload: []byte(`{}`)},
			Result{Keys: []string{"everything"}, Rules: []string{"everything"}}},
		{"invalid payload, decided by headers", r, &Message{Headers: map[string]string{"X-TEST": "1"}, Payload: []byte(`not json`)},
			Result{Keys: []string{"quarantine"}, Rules: []string{"tests"}}},
		{"invalid payload, decided by connector", r, &Message{Connector: "kafka", Payload: []byte(`{`)},
			Result{Reason: "the payload is not a JSON object: unexpected EOF"}},
		{"payload array", r, &Message{Connector: "crm", Payload: []byte(`[1]`)},
			Result{Reason: "the payload is not a JSON object: it is an array"}},
		{"payload trailing", r, &Message{Connector: "crm", Payload: []byte(`{} {}`)},
			Result{Reason: "the payload is not a JSON object: it has more after the value"}},
		{"payload too big", r, &Message{Connector: "crm", Payload: []byte(`{"a":"` + strings.Repeat("x", MaxPayloadSize) + `"}`)},
			Result{Reason: "the payload is 1048584 bytes, over the limit of 1 MiB"}},
		{"nil message", r, nil,
			Result{Keys: []string{"everything"}, Rules: []string{"everything"}}},
		{"header names differing in case", r, &Message{Headers: map[string]string{"x-test": "2", "X-Test": "1"}},
			Result{Keys: []string{"quarantine"}, Rules: []string{"tests"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rules.Route(tc.msg); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Route = %+v\nwant    %+v", got, tc.want)
			}
		})
	}
}

func TestRouteDefault(t *testing.T) {
	src := `
default: fallback
rules:
  - name: orders
    when: {field: {$.type: order}}
    keys: orders
`
	r := mustParse(t, src)
	if got, want := r.Route(&Message{Payload: []byte(`{"type":"x"}`)}), (Result{Keys: []string{"fallback"}, Default: true}); !reflect.DeepEqual(got, want) {
		t.Errorf("Route = %+v, want %+v", got, want)
	}
	if got, want := r.Route(&Message{Payload: []byte(`{"type":"order"}`)}), (Result{Keys: []string{"orders"}, Rules: []string{"orders"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("Route = %+v, want %+v", got, want)
	}
	// An unreadable payload goes to repair, not to the default.
	if got, want := r.Route(&Message{Payload: []byte(`"x"`)}), (Result{Reason: "the payload is not a JSON object: it is a string"}); !reflect.DeepEqual(got, want) {
		t.Errorf("Route = %+v, want %+v", got, want)
	}
	noDefault := mustParse(t, strings.Replace(src, "default: fallback\n", "", 1))
	if got, want := noDefault.Route(&Message{Payload: []byte(`{}`)}), (Result{Reason: "no rule matched"}); !reflect.DeepEqual(got, want) {
		t.Errorf("Route = %+v, want %+v", got, want)
	}
	only := mustParse(t, "default: everything\n")
	if got, want := only.Route(&Message{}), (Result{Keys: []string{"everything"}, Default: true}); !reflect.DeepEqual(got, want) {
		t.Errorf("Route = %+v, want %+v", got, want)
	}
}

func TestRulesAccessors(t *testing.T) {
	r := mustParse(t, pipeline)
	if got, want := r.Keys(), []string{"audit", "customers", "everything", "fallback", "never", "quarantine", "review"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Keys = %v, want %v", got, want)
	}
	if got, want := r.Names(), []string{"tests", "customers", "big", "everything", "never"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	if r.Default() != "fallback" {
		t.Errorf("Default = %q", r.Default())
	}
}

func TestPaths(t *testing.T) {
	tests := []struct {
		text  string
		steps []step
		why   string
	}{
		{"$.a", []step{{name: "a", index: -1}}, ""},
		{"$.items[0].sku", []step{{name: "items", index: -1}, {index: 0}, {name: "sku", index: -1}}, ""},
		{`$["a b"][12]`, []step{{name: "a b", index: -1}, {index: 12}}, ""},
		{`$["q\"]"]`, []step{{name: `q"]`, index: -1}}, ""},
		{"$", nil, "a path names a field after $, such as $.type"},
		{"a.b", nil, "a path starts with $"},
		{"$a", nil, "expected . or [ at offset 1"},
		{"$.", nil, `a name after . at offset 1 is letters, digits, _ and - (write ["..."] for others)`},
		{"$.a[01]", nil, `an index at offset 3 is [N], N an integer from 0, or ["name"]`},
		{"$.a[-1]", nil, `an index at offset 3 is [N], N an integer from 0, or ["name"]`},
		{"$.a[1", nil, `an index at offset 3 is [N], N an integer from 0, or ["name"]`},
		{`$["a`, nil, `unterminated [" at offset 1`},
		{`$["a"`, nil, `unterminated [" at offset 1`},
		{`$["\q"]`, nil, `the name at offset 1 is no valid quoted string`},
		{"$" + strings.Repeat(".a", MaxPathSteps), nil, ""},
		{"$" + strings.Repeat(".a", MaxPathSteps+1), nil, "has more than 16 steps"},
	}
	for _, tc := range tests {
		p, why := parsePath(tc.text)
		if why != tc.why {
			t.Errorf("parsePath(%q): %q, want %q", tc.text, why, tc.why)
			continue
		}
		if why == "" && tc.steps != nil && !reflect.DeepEqual(p.steps, tc.steps) {
			t.Errorf("parsePath(%q) = %+v, want %+v", tc.text, p.steps, tc.steps)
		}
	}
}
