package handler

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/yamlcheck"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// richPipeline uses every built-in handler and some Go ones.
const richPipeline = `
routes:
  default: rest
  rules:
    - name: tests
      when: {header: {X-Test: "1"}}
      keys: sink
      stop: true
    - name: orders
      when:
        any:
          - field: {$.kind: order}
          - field: {$.lines: {exists: true}}
      keys: [orders, lines]
chains:
  sink: [outbound: sink]
  orders:
    - rename: {cust: customer_id, "meta.trace": trace}
    - map:
        source: {header: X-Source, default: web}
        id: {message: id}
        first: {path: "$.lines[0].sku", default: null}
        all: $
    - enrich: {type: Customer, key: {id: {path: $.customer_id, default: c1}}, into: customer, fields: [tier], missing: skip}
    - outbound: {destination: billing}
    - drop: [all, debug]
    - test-upper
    - set-type: {type: Order, version: 1}
  lines:
    - filter: {when: {field: {$.lines: {exists: true}}}}
    - split: {field: lines, keep: {order: kind}}
    - test-twice
    - enrich: {type: Customer, key: {id: $.sku}, into: c, missing: null}
    - outbound: lines
  rest:
    - filter: {when: {not: {field: {$.skip: true}}}}
    - map: {n: {const: 1.50}}
    - set-type: Other
`

// fuzzInputs are messages every pipeline FuzzParse accepts must run
// without panicking.
var fuzzInputs = []*Input{
	nil,
	{},
	{ID: "m1", Connector: "crm", Headers: map[string]string{"X-Kind": "customer", "x-source": "s"}, Payload: []byte(`{"kind":"order","cust":"c1","lines":[{"sku":"c2"},{"sku":1}],"name":"n","customer":{"id":"c1","name":"Ada"},"created_at":"x"}`)},
	{Connector: "shop", Payload: []byte(`{"kind":"order","order_no":"o","customer":"c1","items":[{"sku":"p"}],"state":"paid"}`)},
	{Connector: "carrier", Payload: []byte(`{"event":"shipped","lines":"x","a":{"b":[1,{"c":null}]}}`)},
	{Payload: []byte(`[1,2]`)},
}

// FuzzParse checks that Parse never panics, that its errors have the
// documented shape, and that accepted pipelines run any message.
func FuzzParse(f *testing.F) {
	f.Add(examples.Pipeline)
	f.Add([]byte(richPipeline))
	for _, tc := range invalidPipelines {
		f.Add([]byte(tc.file))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			if p != nil {
				t.Fatal("Parse returned a pipeline with its error")
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
		for _, k := range p.Routes.Keys() {
			if p.Chain(k) == nil {
				t.Fatalf("routing key %s has no chain", k)
			}
		}
		for _, in := range fuzzInputs {
			checkOutcome(t, p.Run(in, testLookup, testNow))
		}
	})
}

// FuzzRun runs arbitrary messages through fixed pipelines: Run never
// panics, its outcome is a failure or effects, and the same message
// gives the same outcome.
func FuzzRun(f *testing.F) {
	pipelines := []*Pipeline{mustParse(f, string(examples.Pipeline)), mustParse(f, richPipeline)}
	for _, in := range fuzzInputs[2:] {
		for k, v := range in.Headers {
			f.Add(in.Connector, k, v, in.Payload)
		}
		f.Add(in.Connector, "", "", in.Payload)
	}
	f.Add("shop", "X-Test", "1", []byte(`{`))
	f.Add("catalog", "x-source", "", []byte(`{"sku":"p1","_meta":{}}`))
	f.Add("", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, connector, header, value string, payload []byte) {
		in := &Input{ID: "id", Connector: connector, Headers: map[string]string{header: value, strings.ToLower(header): value + "!"}, Payload: payload}
		for _, p := range pipelines {
			a, b := p.Run(in, testLookup, testNow), p.Run(in, testLookup, testNow)
			checkOutcome(t, a)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("Run differs on the same message:\n%s\n%s", summary(a), summary(b))
			}
		}
	})
}
