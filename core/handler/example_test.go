package handler_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/handler"
)

// customers is a Lookup over a few stored Customer objects.
type customers map[string]map[string]any

func (c customers) Object(typ string, key map[string]any) (map[string]any, bool, error) {
	id, _ := key["id"].(string)
	obj, ok := c[id]
	return obj, ok && typ == "Customer", nil
}

const examplePipeline = `
routes:
  rules:
    - name: orders
      when: {connector: shop, field: {$.kind: order}}
      keys: [orders, lines]
chains:
  orders:
    - rename: {cust: customer_id}
    - drop: kind
    - enrich: {type: Customer, key: {id: $.customer_id}, into: customer, fields: [tier]}
    - outbound: billing
    - drop: [customer, items]
    - set-type: {type: Order, version: 1}
  lines:
    - split: {field: items, keep: {order_id: id}}
    - outbound: warehouse
`

func Example() {
	p, err := handler.Parse("pipeline.yaml", []byte(examplePipeline))
	if err != nil {
		fmt.Println(err)
		return
	}
	look := customers{"c1": {"id": "c1", "tier": "gold"}}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, payload := range []string{
		`{"kind":"order","id":"o1","cust":"c1","items":[{"sku":"p1"},{"sku":"p2"}]}`,
		`{"kind":"order","id":"o2","cust":"c9","items":[]}`,
		`{"kind":"refund"}`,
	} {
		o := p.Run(&handler.Input{ID: "m1", Connector: "shop", Payload: []byte(payload)}, look, now)
		if o.Failure != nil {
			fmt.Printf("repair: %s\n", o.Failure.Reason)
			continue
		}
		for _, ob := range o.Outbound {
			fmt.Printf("send %s %s\n", ob.Destination, ob.Value)
		}
		for _, obj := range o.Objects {
			fmt.Printf("store %s/%d %s\n", obj.Type, obj.Version, obj.Value)
		}
	}
	_, err = handler.Parse("bad.yaml", []byte("routes: {default: orders}\nchains:\n  orders: [enrcih: {}]\n"))
	fmt.Println(err)
	// Output:
	// send billing {"customer":{"tier":"gold"},"customer_id":"c1","id":"o1","items":[{"sku":"p1"},{"sku":"p2"}]}
	// send warehouse {"order_id":"o1","sku":"p1"}
	// send warehouse {"order_id":"o1","sku":"p2"}
	// store Order/1 {"customer_id":"c1","id":"o1"}
	// repair: chain orders, step 2 (enrich): Customer {"id":"c9"} not found
	// repair: no rule matched
	// bad.yaml:3: chains.orders[0]: unknown handler "enrcih" (did you mean enrich?)
}

// A Go handler registers itself from an init function, as a
// database/sql driver does; chains then name it like a built-in.
func init() {
	handler.RegisterChecked("stamp",
		func(params any) error {
			if _, ok := params.(string); !ok {
				return fmt.Errorf("wants the field to stamp, got %v", params)
			}
			return nil
		},
		func(c *handler.Context, m *handler.Message) ([]*handler.Message, error) {
			m.Fields[c.Params().(string)] = c.Now().Format(time.RFC3339)
			if s, ok := m.Fields["name"].(string); ok {
				m.Fields["name"] = strings.TrimSpace(s)
			}
			return []*handler.Message{m}, nil
		})
}

func ExampleRegister() {
	p, err := handler.Parse("pipeline.yaml", []byte(`
routes: {default: people}
chains:
  people:
    - stamp: received
    - set-type: Person
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	o := p.Run(&handler.Input{Payload: []byte(`{"name":"  Ada "}`)}, nil, time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	fmt.Printf("%s %s\n", o.Objects[0].Type, o.Objects[0].Value)

	_, err = handler.Parse("bad.yaml", []byte("routes: {default: people}\nchains:\n  people: [stamp: 1, set-type: Person]\n"))
	fmt.Println(err)

	var names []string
	for _, n := range handler.Registered() {
		if !strings.HasPrefix(n, "test-") {
			names = append(names, n)
		}
	}
	b, _ := json.Marshal(names)
	fmt.Println(string(b))
	// Output:
	// Person {"name":"Ada","received":"2025-03-01T12:00:00Z"}
	// bad.yaml:3: chains.people[0].stamp: wants the field to stamp, got 1
	// ["drop","enrich","filter","map","outbound","rename","set-type","split","stamp"]
}
