package route_test

import (
	"fmt"

	"github.com/shoaldb/shoal/core/route"
)

const exampleRules = `
default: fallback
rules:
  - name: tests
    when: {header: {X-Test: "1"}}
    keys: quarantine
    stop: true
  - name: customers
    when:
      connector: crm
      field:
        $.type: customer
        $.source: {prefix: "crm-"}
    keys: [customers, audit]
  - name: big_orders
    when:
      field:
        $.amount: {gt: 100}
        "$.items[0].sku": {exists: true}
      any:
        - field: {$.kind: a}
        - field: {$.kind: b}
    keys: [orders, audit]
`

func Example() {
	rules, err := route.Parse("rules.yaml", []byte(exampleRules))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range []*route.Message{
		{Connector: "crm", Payload: []byte(`{"type":"customer","source":"crm-eu","amount":250,"kind":"b","items":[{"sku":"p1"}]}`)},
		{Connector: "crm", Headers: map[string]string{"x-test": "1"}, Payload: []byte(`not json`)},
		{Connector: "web", Payload: []byte(`{"type":"order","amount":"250"}`)},
		{Connector: "web", Payload: []byte(`[]`)},
	} {
		res := rules.Route(m)
		fmt.Printf("keys %v rules %v default %t reason %q\n", res.Keys, res.Rules, res.Default, res.Reason)
	}
	_, err = route.Parse("bad.yaml", []byte("rules:\n  - name: a\n    when: {field: {$.amount: {gte: 1}}}\n    keys: a\n"))
	fmt.Println(err)
	// Output:
	// keys [customers audit orders] rules [customers big_orders] default false reason ""
	// keys [quarantine] rules [tests] default false reason ""
	// keys [fallback] rules [] default true reason ""
	// keys [] rules [] default false reason "the payload is not a JSON object: it is an array"
	// bad.yaml:3: rules[0].when.field.$.amount: unknown operator "gte" (did you mean gt?)
}
