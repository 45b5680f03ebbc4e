package handler

import (
	"slices"
	"strings"
	"testing"
)

// builtinCase runs steps (before a final set-type: T unless noType) on
// one message and compares the outcome's summary.
type builtinCase struct {
	name    string
	steps   []string
	payload string
	headers map[string]string
	want    string
}

func runBuiltinCases(t *testing.T, cases []builtinCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, chainOf(tc.steps...))
			in := &Input{ID: "m1", Connector: "crm", Headers: tc.headers, Payload: []byte(tc.payload)}
			o := p.Run(in, testLookup, testNow)
			checkOutcome(t, o)
			if got := summary(o); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestSetType(t *testing.T) {
	runBuiltinCases(t, []builtinCase{
		{"short", []string{"- set-type: Order"}, `{"a":1}`, nil, `Order/0 {"a":1}`},
		{"with version", []string{"- set-type: {type: Customer, version: 2}"}, `{}`, nil, `Customer/2 {}`},
		{"type only", []string{"- set-type: {type: Customer}"}, `{}`, nil, `Customer/0 {}`},
		{"last wins", []string{"- set-type: {type: Customer, version: 1}", "- set-type: Order"}, `{}`, nil, `Order/0 {}`},
		{"numbers as received", []string{"- set-type: T"}, `{"n":1.50,"big":12345678901234567890123,"e":1E400}`, nil, `T/0 {"big":12345678901234567890123,"e":1E400,"n":1.50}`},
		{"no HTML escaping, keys sorted", []string{"- set-type: T"}, `{"z":"<a&b>","a":"é"}`, nil, `T/0 {"a":"é","z":"<a&b>"}`},
		{"duplicate key keeps last", []string{"- set-type: T"}, `{"a":1,"a":2}`, nil, `T/0 {"a":2}`},
	})
}

func TestRename(t *testing.T) {
	runBuiltinCases(t, []builtinCase{
		{"simple", []string{"- rename: {cust: customer_id}", "- set-type: T"}, `{"cust":"c1","x":1}`, nil,
			`T/0 {"customer_id":"c1","x":1}`},
		{"file order", []string{"- rename: {a: b, b: c}", "- set-type: T"}, `{"a":1}`, nil,
			`T/0 {"c":1}`},
		{"swap through a third", []string{"- rename: {a: tmp, b: a, tmp: b}", "- set-type: T"}, `{"a":1,"b":2}`, nil,
			`T/0 {"a":2,"b":1}`},
		{"missing is left alone", []string{"- rename: {nope: x}", "- set-type: T"}, `{"a":1}`, nil,
			`T/0 {"a":1}`},
		{"nested from", []string{`- rename: {"a.b": c}`, "- set-type: T"}, `{"a":{"b":1,"k":2}}`, nil,
			`T/0 {"a":{"k":2},"c":1}`},
		{"emptied object stays", []string{`- rename: {"a.b": c}`, "- set-type: T"}, `{"a":{"b":1}}`, nil,
			`T/0 {"a":{},"c":1}`},
		{"nested to creates objects", []string{`- rename: {c: "x.y.z"}`, "- set-type: T"}, `{"c":[1]}`, nil,
			`T/0 {"x":{"y":{"z":[1]}}}`},
		{"nested to into an existing object", []string{`- rename: {c: "x.y"}`, "- set-type: T"}, `{"c":1,"x":{"k":0}}`, nil,
			`T/0 {"x":{"k":0,"y":1}}`},
		{"onto an existing field", []string{"- rename: {a: b}", "- set-type: T"}, `{"a":1,"b":2}`, nil,
			`FAIL "k" 0 "rename": chain k, step 0 (rename): cannot rename a to b: b already exists (drop it first)`},
		{"onto an existing null", []string{"- rename: {a: b}", "- set-type: T"}, `{"a":1,"b":null}`, nil,
			`FAIL "k" 0 "rename": chain k, step 0 (rename): cannot rename a to b: b already exists (drop it first)`},
		{"through a scalar", []string{`- rename: {a: "b.c"}`, "- set-type: T"}, `{"a":1,"b":"s"}`, nil,
			`FAIL "k" 0 "rename": chain k, step 0 (rename): cannot rename a to b.c: cannot set b.c: b is a string, not an object`},
		{"from through an array", []string{`- rename: {"a.b": c}`, "- set-type: T"}, `{"a":[{"b":1}]}`, nil,
			`T/0 {"a":[{"b":1}]}`},
	})
}

func TestDrop(t *testing.T) {
	runBuiltinCases(t, []builtinCase{
		{"one", []string{"- drop: debug", "- set-type: T"}, `{"debug":1,"a":2}`, nil, `T/0 {"a":2}`},
		{"list and nested", []string{"- drop: [debug, meta.trace]", "- set-type: T"}, `{"debug":1,"meta":{"trace":"x","id":1}}`, nil,
			`T/0 {"meta":{"id":1}}`},
		{"missing is left alone", []string{"- drop: [x, y.z, meta.trace.deep]", "- set-type: T"}, `{"y":3,"meta":{"trace":"s"}}`, nil,
			`T/0 {"meta":{"trace":"s"},"y":3}`},
		{"a whole object", []string{"- drop: meta", "- set-type: T"}, `{"meta":{"a":{"b":1}}}`, nil, `T/0 {}`},
		{"names with dashes and digits", []string{`- drop: [x-1, "2"]`, "- set-type: T"}, `{"x-1":1,"2":2,"k":3}`, nil, `T/0 {"k":3}`},
	})
}

func TestMap(t *testing.T) {
	h := map[string]string{"x-source": "web", "X-Other": "o"}
	runBuiltinCases(t, []builtinCase{
		{"path", []string{"- map: {customer_id: $.customer.id}", "- set-type: T"}, `{"customer":{"id":"c1"}}`, nil,
			`T/0 {"customer":{"id":"c1"},"customer_id":"c1"}`},
		{"index path", []string{`- map: {first: "$.items[0].sku"}`, "- set-type: T"}, `{"items":[{"sku":"p1"}]}`, nil,
			`T/0 {"first":"p1","items":[{"sku":"p1"}]}`},
		{"quoted path", []string{`- map: {b: '$["a b"]'}`, "- set-type: T"}, `{"a b":1}`, nil,
			`T/0 {"a b":1,"b":1}`},
		{"missing path fails", []string{"- map: {x: $.nope}", "- set-type: T"}, `{}`, nil,
			`FAIL "k" 0 "map": chain k, step 0 (map): x: $.nope is missing`},
		{"missing path default", []string{"- map: {x: {path: $.nope, default: null}, y: {path: $.a, default: 0}}", "- set-type: T"}, `{"a":5}`, nil,
			`T/0 {"a":5,"x":null,"y":5}`},
		{"null is not missing", []string{"- map: {x: $.a}", "- set-type: T"}, `{"a":null}`, nil,
			`T/0 {"a":null,"x":null}`},
		{"header, any case", []string{"- map: {src: {header: X-SOURCE}, o: {header: x-other}}", "- set-type: T"}, `{}`, h,
			`T/0 {"o":"o","src":"web"}`},
		{"missing header fails", []string{"- map: {src: {header: X-Nope}}", "- set-type: T"}, `{}`, h,
			`FAIL "k" 0 "map": chain k, step 0 (map): src: header X-Nope is missing`},
		{"missing header default", []string{"- map: {src: {header: X-Nope, default: shop}}", "- set-type: T"}, `{}`, h,
			`T/0 {"src":"shop"}`},
		{"const", []string{"- map: {s: {const: new}, n: {const: 1.50}, h: {const: 0x10}, l: {const: [1, {a: null}]}, z: {const: null}, d: {const: 2024-01-01}}", "- set-type: T"}, `{}`, nil,
			`T/0 {"d":"2024-01-01","h":16,"l":[1,{"a":null}],"n":1.50,"s":"new","z":null}`},
		{"message", []string{"- map: {id: {message: id}, c: {message: connector}, k: {message: key}}", "- set-type: T"}, `{}`, nil,
			`T/0 {"c":"crm","id":"m1","k":"k"}`},
		{"replaces", []string{"- map: {a: {const: 2}}", "- set-type: T"}, `{"a":{"deep":1}}`, nil,
			`T/0 {"a":2}`},
		{"file order", []string{"- map: {a: {const: 1}, b: $.a}", "- set-type: T"}, `{}`, nil,
			`T/0 {"a":1,"b":1}`},
		{"whole", []string{"- map: {copy: $}", "- set-type: T"}, `{"a":1}`, nil,
			`T/0 {"a":1,"copy":{"a":1}}`},
		{"into itself", []string{`- map: {"a.b": $.a}`, "- set-type: T"}, `{"a":{"x":1}}`, nil,
			`T/0 {"a":{"b":{"x":1},"x":1}}`},
		{"nested target", []string{`- map: {"x.y": {const: 1}}`, "- set-type: T"}, `{}`, nil,
			`T/0 {"x":{"y":1}}`},
		{"through a scalar", []string{`- map: {"x.y": {const: 1}}`, "- set-type: T"}, `{"x":true}`, nil,
			`FAIL "k" 0 "map": chain k, step 0 (map): cannot set x.y: x is a boolean, not an object`},
		{"copies do not share", []string{"- map: {b: $.a}", `- map: {"b.k": {const: 2}}`, "- set-type: T"}, `{"a":{"k":1}}`, nil,
			`T/0 {"a":{"k":1},"b":{"k":2}}`},
		{"const copies do not share", []string{"- map: {a: {const: {k: 1}}}", "- split: {field: l}", `- map: {"a.k": $.v}`, "- set-type: T"},
			`{"l":[{"v":1},{"v":2}]}`, nil, "T/0 {\"a\":{\"k\":1},\"v\":1}\nT/0 {\"a\":{\"k\":2},\"v\":2}"},
	})
}

func TestMapCopyLimit(t *testing.T) {
	// Each step doubles the message; the copy budget stops it.
	steps := []string{}
	for range MaxSteps - 1 {
		steps = append(steps, `- map: {"a.b": $.a, "a.c": $.a}`)
	}
	steps = append(steps, "- set-type: T")
	p := mustParse(t, chainOf(steps...))
	o := p.Run(&Input{Payload: []byte(`{"a":{"s":"xxxxxxxxxxxxxxxx"}}`)}, nil, testNow)
	checkOutcome(t, o)
	if o.Failure == nil || o.Failure.Reason != "chain k, step 11 (map): a.c: copies more than 8 MiB of fields for one inbound message (MaxCopyBytes)" {
		t.Errorf("got %s", summary(o))
	}
}

func TestFilter(t *testing.T) {
	runBuiltinCases(t, []builtinCase{
		{"holds", []string{"- filter: {when: {field: {$.status: paid}}}", "- set-type: T"}, `{"status":"paid"}`, nil, `T/0 {"status":"paid"}`},
		{"does not hold", []string{"- filter: {when: {field: {$.status: paid}}}", "- set-type: T"}, `{"status":"open"}`, nil, ``},
		{"current fields", []string{"- rename: {state: status}", "- filter: {when: {field: {$.status: paid}}}", "- set-type: T"}, `{"state":"paid"}`, nil, `T/0 {"status":"paid"}`},
		{"connector and header", []string{"- filter: {when: {connector: crm, header: {X-Kind: a}}}", "- set-type: T"}, `{}`, map[string]string{"x-kind": "a"}, `T/0 {}`},
		{"header does not hold", []string{"- filter: {when: {header: {X-Kind: a}}}", "- set-type: T"}, `{}`, map[string]string{"X-Kind": "b"}, ``},
		{"numbers", []string{"- filter: {when: {field: {$.n: {gt: 100}}}}", "- set-type: T"}, `{"n":100.5}`, nil, `T/0 {"n":100.5}`},
		{"not and any", []string{"- filter: {when: {not: {any: [{field: {$.a: 1}}, {field: {$.b: {exists: true}}}]}}}", "- set-type: T"}, `{"a":2}`, nil, `T/0 {"a":2}`},
		{"split then filter", []string{"- split: {field: l}", "- filter: {when: {field: {$.v: {ge: 2}}}}", "- set-type: T"}, `{"l":[{"v":1},{"v":2},{"v":3}]}`, nil,
			"T/0 {\"v\":2}\nT/0 {\"v\":3}"},
		{"filtered out before a type is needed", []string{"- filter: {when: {connector: nobody}}"}, `{}`, nil, ``},
	})
}

func TestSplit(t *testing.T) {
	runBuiltinCases(t, []builtinCase{
		{"elements", []string{"- split: {field: lines}", "- set-type: Line"}, `{"lines":[{"sku":"a"},{"sku":"b"}],"x":1}`, nil,
			"Line/0 {\"sku\":\"a\"}\nLine/0 {\"sku\":\"b\"}"},
		{"keep list", []string{"- split: {field: lines, keep: [customer_id, meta.src]}", "- set-type: Line"}, `{"lines":[{"sku":"a"}],"customer_id":"c1","meta":{"src":"w","x":1}}`, nil,
			`Line/0 {"customer_id":"c1","meta":{"src":"w"},"sku":"a"}`},
		{"keep mapping", []string{"- split: {field: lines, keep: {order_id: id}}", "- set-type: Line"}, `{"lines":[{"sku":"a"},{"sku":"b"}],"id":"o1"}`, nil,
			"Line/0 {\"order_id\":\"o1\",\"sku\":\"a\"}\nLine/0 {\"order_id\":\"o1\",\"sku\":\"b\"}"},
		{"kept copies do not share", []string{"- split: {field: l, keep: [o]}", `- map: {"o.v": $.v}`, "- set-type: T"}, `{"l":[{"v":1},{"v":2}],"o":{}}`, nil,
			"T/0 {\"o\":{\"v\":1},\"v\":1}\nT/0 {\"o\":{\"v\":2},\"v\":2}"},
		{"nested field", []string{"- split: {field: order.lines}", "- set-type: Line"}, `{"order":{"lines":[{"n":1}]}}`, nil, `Line/0 {"n":1}`},
		{"type carries over", []string{"- set-type: {type: Line, version: 2}", "- split: {field: l}"}, `{"l":[{"n":1}]}`, nil, `Line/2 {"n":1}`},
		{"empty array", []string{"- split: {field: lines}", "- set-type: Line"}, `{"lines":[]}`, nil, ``},
		{"missing", []string{"- split: {field: lines}", "- set-type: Line"}, `{}`, nil,
			`FAIL "k" 0 "split": chain k, step 0 (split): lines is missing`},
		{"not an array", []string{"- split: {field: lines}", "- set-type: Line"}, `{"lines":{"a":1}}`, nil,
			`FAIL "k" 0 "split": chain k, step 0 (split): lines is an object, not an array`},
		{"null", []string{"- split: {field: lines}", "- set-type: Line"}, `{"lines":null}`, nil,
			`FAIL "k" 0 "split": chain k, step 0 (split): lines is null, not an array`},
		{"element not an object", []string{"- split: {field: lines}", "- set-type: Line"}, `{"lines":[{},"x"]}`, nil,
			`FAIL "k" 0 "split": chain k, step 0 (split): lines[1] is a string, not an object`},
		{"kept field missing", []string{"- split: {field: lines, keep: [c]}", "- set-type: Line"}, `{"lines":[{}]}`, nil,
			`FAIL "k" 0 "split": chain k, step 0 (split): cannot keep c: it is missing`},
		{"element has the kept field", []string{"- split: {field: lines, keep: [c]}", "- set-type: Line"}, `{"lines":[{"c":2}],"c":1}`, nil,
			`FAIL "k" 0 "split": chain k, step 0 (split): cannot keep c: lines[0] already has c`},
		{"split twice", []string{"- split: {field: a}", "- split: {field: b}", "- set-type: T"}, `{"a":[{"b":[{"n":1},{"n":2}]},{"b":[{"n":3}]}]}`, nil,
			"T/0 {\"n\":1}\nT/0 {\"n\":2}\nT/0 {\"n\":3}"},
	})
}

func TestEnrich(t *testing.T) {
	runBuiltinCases(t, []builtinCase{
		{"all fields", []string{"- enrich: {type: Customer, key: {id: $.cid}, into: customer}", "- set-type: T"}, `{"cid":"c2"}`, nil,
			`T/0 {"cid":"c2","customer":{"first_name":"Bob","id":"c2","tier":"basic"}}`},
		{"some fields", []string{"- enrich: {type: Customer, key: {id: $.cid}, into: c.info, fields: [tier, email]}", "- set-type: T"}, `{"cid":"c1"}`, nil,
			`T/0 {"c":{"info":{"email":"ada@example.com","tier":"gold"}},"cid":"c1"}`},
		{"a listed field the object lacks", []string{"- enrich: {type: Customer, key: {id: $.cid}, into: c, fields: [tier, email]}", "- set-type: T"}, `{"cid":"c2"}`, nil,
			`T/0 {"c":{"tier":"basic"},"cid":"c2"}`},
		{"key from a const and a header", []string{"- enrich: {type: Customer, key: {id: {header: X-Customer}}, into: c, fields: [tier]}", "- set-type: T"}, `{}`, map[string]string{"x-customer": "c1"},
			`T/0 {"c":{"tier":"gold"}}`},
		{"missing fails", []string{"- enrich: {type: Customer, key: {id: $.cid}, into: c}", "- set-type: T"}, `{"cid":"c9"}`, nil,
			`FAIL "k" 0 "enrich": chain k, step 0 (enrich): Customer {"id":"c9"} not found`},
		{"missing fail", []string{"- enrich: {type: Customer, key: {id: $.cid}, into: c, missing: fail}", "- set-type: T"}, `{"cid":"c9"}`, nil,
			`FAIL "k" 0 "enrich": chain k, step 0 (enrich): Customer {"id":"c9"} not found`},
		{"missing skip", []string{"- enrich: {type: Customer, key: {id: $.cid}, into: c, missing: skip}", "- set-type: T"}, `{"cid":"c9"}`, nil,
			`T/0 {"cid":"c9"}`},
		{"missing null", []string{"- enrich: {type: Customer, key: {id: $.cid}, into: c, missing: null}", "- set-type: T"}, `{"cid":"c9"}`, nil,
			`T/0 {"c":null,"cid":"c9"}`},
		{"key source missing", []string{"- enrich: {type: Customer, key: {id: $.cid}, into: c, missing: skip}", "- set-type: T"}, `{}`, nil,
			`FAIL "k" 0 "enrich": chain k, step 0 (enrich): key id: $.cid is missing`},
		{"key of another kind", []string{"- enrich: {type: Customer, key: {id: $.cid}, into: c, missing: null}", "- set-type: T"}, `{"cid":1}`, nil,
			`T/0 {"c":null,"cid":1}`},
		{"replaces into", []string{"- enrich: {type: Customer, key: {id: $.cid}, into: cid, fields: [tier]}", "- set-type: T"}, `{"cid":"c1"}`, nil,
			`T/0 {"cid":{"tier":"gold"}}`},
		{"into through a scalar", []string{`- enrich: {type: Customer, key: {id: $.cid}, into: "cid.x"}`, "- set-type: T"}, `{"cid":"c1"}`, nil,
			`FAIL "k" 0 "enrich": chain k, step 0 (enrich): cannot set cid.x: cid is a string, not an object`},
		{"composite key", []string{"- enrich: {type: Customer, key: {id: $.cid, region: {const: eu}}, into: c, missing: null}", "- set-type: T"}, `{"cid":"c1"}`, nil,
			`T/0 {"c":null,"cid":"c1"}`},
	})
	p := mustParse(t, chainOf("- enrich: {type: Customer, key: {id: $.cid}, into: c}", "- set-type: T"))
	o := p.Run(&Input{Payload: []byte(`{"cid":"c1"}`)}, errLookup{}, testNow)
	if want := `FAIL "k" 0 "enrich": chain k, step 0 (enrich): Customer {"id":"c1"}: disk on fire`; summary(o) != want {
		t.Errorf("a failing Lookup: got %s, want %s", summary(o), want)
	}
	o = p.Run(&Input{Payload: []byte(`{"cid":"c1"}`)}, nil, testNow)
	if want := `FAIL "k" 0 "enrich": chain k, step 0 (enrich): Customer {"id":"c1"}: no stored objects to look up`; summary(o) != want {
		t.Errorf("no Lookup: got %s, want %s", summary(o), want)
	}
}

func TestOutbound(t *testing.T) {
	runBuiltinCases(t, []builtinCase{
		{"short", []string{"- outbound: billing", "- set-type: T"}, `{"a":1}`, nil, "-> billing {\"a\":1}\nT/0 {\"a\":1}"},
		{"mapping", []string{"- outbound: {destination: billing}", "- set-type: T"}, `{"a":1}`, nil, "-> billing {\"a\":1}\nT/0 {\"a\":1}"},
		{"a copy as it was", []string{"- outbound: b1", "- map: {a: {const: 2}}", "- outbound: b2", "- set-type: T"}, `{"a":1}`, nil,
			"-> b1 {\"a\":1}\n-> b2 {\"a\":2}\nT/0 {\"a\":2}"},
		{"untyped but sent", []string{"- outbound: billing"}, `{"a":1}`, nil, "-> billing {\"a\":1}"},
		{"split after sending", []string{"- outbound: billing", "- split: {field: l}"}, `{"l":[{"n":1}]}`, nil, "-> billing {\"l\":[{\"n\":1}]}"},
		{"untyped, filtered after", []string{"- filter: {when: {connector: nobody}}", "- outbound: billing"}, `{}`, nil, ""},
		{"step by step", []string{"- split: {field: l}", "- outbound: a", "- outbound: b"}, `{"l":[{"n":1},{"n":2}]}`, nil,
			"-> a {\"n\":1}\n-> a {\"n\":2}\n-> b {\"n\":1}\n-> b {\"n\":2}"},
		{"untyped and never sent", []string{"- drop: x"}, `{}`, nil,
			`FAIL "k" 1 "": chain k, end: reached the end of chain k without a type: add set-type, or filter it out`},
		{"one of several untyped", []string{"- split: {field: l}", "- filter: {when: {field: {$.n: 1}}}", "- outbound: a"}, `{"l":[{"n":1},{"n":2}]}`, nil,
			"-> a {\"n\":1}"},
	})
}

// goLookup hands back objects holding Go values, as an engine might.
type goLookup map[string]any

func (l goLookup) Object(typ string, key map[string]any) (map[string]any, bool, error) {
	return l, true, nil
}

func TestEnrichGoValues(t *testing.T) {
	p := mustParse(t, chainOf("- enrich: {type: Customer, key: {id: $.cid}, into: c}",
		"- filter: {when: {field: {$.c.n: {gt: 2}}}}", "- set-type: T"))
	in := &Input{Payload: []byte(`{"cid":"c1"}`)}
	o := p.Run(in, goLookup{"n": int64(3), "f": 0.5, "l": []string{"a"}}, testNow)
	// The int64 reads as a number: the filter holds.
	if got, want := summary(o), `T/0 {"c":{"f":0.5,"l":["a"],"n":3},"cid":"c1"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	o = p.Run(in, goLookup{"c": make(chan int)}, testNow)
	if got, want := summary(o), `FAIL "k" 0 "enrich": chain k, step 0 (enrich): Customer {"id":"c1"}: the stored object is no JSON: json: unsupported type: chan int`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestOutboundKey: an outbound message's key orders its destination's
// deliveries: the routing key, or the field the step names.
func TestOutboundKey(t *testing.T) {
	p := mustParse(t, chainOf("- outbound: billing", "- outbound: {destination: billing, key: $.c.id}",
		"- outbound: {destination: billing, key: $.n}", "- set-type: T"))
	o := p.Run(&Input{Payload: []byte(`{"c":{"id":"c7"},"n":12}`)}, nil, testNow)
	var keys []string
	for _, out := range o.Outbound {
		keys = append(keys, out.Key)
	}
	if o.Failure != nil || !slices.Equal(keys, []string{"k", "c7", "12"}) {
		t.Fatalf("keys %q, failure %v", keys, o.Failure)
	}
	for payload, want := range map[string]string{
		`{"n":1}`:                 `no field $.c.id for the outbound message's key`,
		`{"c":{"id":true},"n":1}`: `field $.c.id: an outbound message's key must be a string or a number, got a boolean`,
		`{"c":{"id":"` + strings.Repeat("x", MaxOrderKey+1) + `"}}`: `an outbound message's key of 257 bytes, at most 256`,
	} {
		o := p.Run(&Input{Payload: []byte(payload)}, nil, testNow)
		if o.Failure == nil || !strings.Contains(o.Failure.Reason, want) {
			t.Errorf("%.40s: failure %+v, want %q", payload, o.Failure, want)
		}
	}
	for src, want := range map[string]string{
		"- outbound: {destination: b, key: c.id}": `invalid path "c.id"`,
		"- outbound: {destination: b, key: $}":    `the key must be one field, not the whole message`,
		"- outbound: {destination: b, key: [1]}":  `must be a string`,
	} {
		_, err := Parse("p.yaml", []byte(chainOf(src, "- set-type: T")))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}
