package route

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/yamlcheck"
)

// richRules use every operator and condition.
const richRules = `
default: fallback
rules:
  - name: customers
    when:
      connector: [crm, web]
      header: {X-Source: [crm-eu, crm-us], X-Kind: customer}
      field:
        $.type: customer
        $.source: {prefix: "crm-", suffix: "-1", contains: "m"}
        $.amount: {gt: 1, ge: 1, lt: 1e9, le: 1e9, ne: 0}
        "$.items[0].sku": {in: [a, 1, true, null]}
        $.tags: {contains: vip}
        '$["odd key"]': {exists: false}
      any:
        - field: {$.kind: a}
        - not: {field: {$.kind: {exists: true}}}
      not: {header: {X-Test: "1"}}
    keys: [customers, audit]
  - name: strings
    when: {field: {$.amount: {gt: "5"}}}
    keys: audit
    stop: true
`

// fuzzMessages are messages every rules file accepted by FuzzParse must
// route without panicking.
var fuzzMessages = []*Message{
	nil,
	{},
	{Connector: "crm", Headers: map[string]string{"X-Kind": "customer", "x-kind": "order"}, Payload: []byte(`{"type":"customer","amount":150,"items":[{"sku":"a"}],"tags":["vip"],"z":null}`)},
	{Connector: "kafka", Payload: []byte(`not json`)},
	{Payload: []byte(`[1,2]`)},
	{Payload: []byte(`{"a":{"b":{"c":[1,"x",true,null,{"d":1e999}]}}}`)},
}

// FuzzParse checks that Parse never panics, that its errors have the
// documented shape, and that accepted rules route any message.
func FuzzParse(f *testing.F) {
	f.Add([]byte(pipeline))
	f.Add([]byte(richRules))
	for _, tc := range invalidRules {
		f.Add([]byte(tc.file))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("fuzz.yaml", data)
		if err != nil {
			if r != nil {
				t.Fatal("Parse returned rules with its error")
			}
			var list yamlcheck.ErrorList
			if !errors.As(err, &list) || len(list) == 0 || len(list) > yamlcheck.MaxErrors+1 {
				t.Fatalf("error %T %v is not an ErrorList of 1..%d", err, err, yamlcheck.MaxErrors+1)
			}
			for i, e := range list {
				if e.File != "fuzz.yaml" || e.Line < 1 || e.Msg == "" || (i > 0 && e.Line < list[i-1].Line) {
					t.Fatalf("malformed error %d: %#v", i, e)
				}
			}
			return
		}
		for _, m := range fuzzMessages {
			checkResult(t, r, m, r.Route(m))
		}
	})
}

// FuzzRoute routes arbitrary messages through fixed rules.
func FuzzRoute(f *testing.F) {
	r := mustParse(f, pipeline)
	ex := mustParse(f, richRules)
	f.Add("crm", "X-Kind", "customer", []byte(`{"type":"customer","amount":5000}`))
	f.Add("kafka", "x-test", "1", []byte(`{`))
	f.Add("", "", "", []byte(nil))
	f.Add("web", "X-Source", "crm-eu", []byte(`{"source":"crm-1","amount":"7","items":[{"sku":"a"}]}`))
	f.Fuzz(func(t *testing.T, connector, header, value string, payload []byte) {
		m := &Message{Connector: connector, Headers: map[string]string{header: value, strings.ToUpper(header): value + "!"}, Payload: payload}
		for _, rules := range []*Rules{r, ex} {
			a, b := rules.Route(m), rules.Route(m)
			checkResult(t, rules, m, a)
			if !equalResults(a, b) {
				t.Fatalf("Route differs on the same message: %+v, %+v", a, b)
			}
		}
	})
}

// checkResult checks what every result promises.
func checkResult(t *testing.T, r *Rules, m *Message, res Result) {
	t.Helper()
	if (res.Keys == nil) == (res.Reason == "") {
		t.Fatalf("keys %v with reason %q", res.Keys, res.Reason)
	}
	if res.Default && (len(res.Keys) != 1 || res.Keys[0] != r.Default() || res.Rules != nil) {
		t.Fatalf("a default result %+v", res)
	}
	seen := map[string]bool{}
	for _, k := range res.Keys {
		if seen[k] {
			t.Fatalf("key %q twice in %v", k, res.Keys)
		}
		seen[k] = true
	}
	if res.Keys != nil && !res.Default && len(res.Rules) == 0 {
		t.Fatalf("keys %v without a rule", res.Keys)
	}
}

func equalResults(a, b Result) bool {
	return strings.Join(a.Keys, ",") == strings.Join(b.Keys, ",") && (a.Keys == nil) == (b.Keys == nil) &&
		strings.Join(a.Rules, ",") == strings.Join(b.Rules, ",") && a.Default == b.Default && a.Reason == b.Reason
}
