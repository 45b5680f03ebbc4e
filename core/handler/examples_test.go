package handler

import (
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// TestExamplePipeline runs messages of each connector through
// scenarios/examples/pipeline.yaml, and checks every object it makes
// against the example model, as the engine will.
func TestExamplePipeline(t *testing.T) {
	p, err := Parse("pipeline.yaml", examples.Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Parse("model.yaml", examples.Model)
	if err != nil {
		t.Fatal(err)
	}
	order := func(state, customer string) string {
		return `{"kind":"order","order_no":"o-17","customer":"` + customer + `","placed_at":"2024-05-02T09:30:00Z","state":"` + state + `",
		"items":[{"sku":"p1","quantity":2,"unit_price":"9.95"},{"sku":"p2","quantity":1,"unit_price":"0.10"}],"total":"20.00","note":null,
		"ship_to":{"street":"Main St 1","city":"Utrecht","zip":"3511AA","country":"NL"}}`
	}
	const storedOrder = `Order/0 {"customer_id":"c1","id":"o-17","lines":[{"quantity":2,"sku":"p1","unit_price":"9.95"},{"quantity":1,"sku":"p2","unit_price":"0.10"}],` +
		`"note":null,"placed":"2024-05-02T09:30:00Z","shipping_address":{"city":"Utrecht","country":"NL","street":"Main St 1","zip":"3511AA"},"status":"%s","total":"20.00"}`
	tests := []struct {
		name string
		in   Input
		keys string
		want string
	}{
		{"a CRM customer", Input{ID: "m1", Connector: "crm", Headers: map[string]string{"X-Kind": "customer"},
			Payload: []byte(`{"customer":{"id":"c3","name":"Grace Hopper","email":"grace@example.com"},"created_at":"2024-05-01T10:00:00Z","debug":{"trace":1}}`)},
			"customers",
			`Customer/1 {"created":"2024-05-01T10:00:00Z","email":"grace@example.com","id":"c3","name":"Grace Hopper"}`},
		{"a CRM customer without email", Input{ID: "m2", Connector: "crm", Headers: map[string]string{"x-kind": "customer"},
			Payload: []byte(`{"customer":{"id":"c4","name":"Alan Turing"},"created_at":"2024-05-01T10:00:00Z"}`)},
			"customers",
			`Customer/1 {"created":"2024-05-01T10:00:00Z","email":null,"id":"c4","name":"Alan Turing"}`},
		{"a paid order: stored, billed and sent to the warehouse line by line", Input{ID: "m3", Connector: "shop", Headers: map[string]string{"X-Source": "app"},
			Payload: []byte(order("paid", "c1"))},
			"orders fulfilment",
			`-> billing {"customer":{"email":"ada@example.com","tier":"gold"},"customer_id":"c1","id":"o-17","lines":[{"quantity":2,"sku":"p1","unit_price":"9.95"},{"quantity":1,"sku":"p2","unit_price":"0.10"}],` +
				`"note":null,"placed":"2024-05-02T09:30:00Z","shipping_address":{"city":"Utrecht","country":"NL","street":"Main St 1","zip":"3511AA"},"status":"paid","total":"20.00"}` + "\n" +
				`-> warehouse {"customer_id":"c1","order_id":"o-17","quantity":2,"sku":"p1","source":"app","unit_price":"9.95","warehouse":"main"}` + "\n" +
				`-> warehouse {"customer_id":"c1","order_id":"o-17","quantity":1,"sku":"p2","source":"app","unit_price":"0.10","warehouse":"main"}` + "\n" +
				strings.Replace(storedOrder, "%s", "paid", 1)},
		{"an open order: stored and billed only", Input{ID: "m4", Connector: "shop", Payload: []byte(order("open", "c2"))},
			"orders fulfilment",
			`-> billing {"customer":{"tier":"basic"},"customer_id":"c2","id":"o-17","lines":[{"quantity":2,"sku":"p1","unit_price":"9.95"},{"quantity":1,"sku":"p2","unit_price":"0.10"}],` +
				`"note":null,"placed":"2024-05-02T09:30:00Z","shipping_address":{"city":"Utrecht","country":"NL","street":"Main St 1","zip":"3511AA"},"status":"open","total":"20.00"}` + "\n" +
				strings.Replace(strings.Replace(storedOrder, "%s", "open", 1), `"c1"`, `"c2"`, 1)},
		{"an order of an unknown customer", Input{ID: "m5", Connector: "shop", Payload: []byte(order("paid", "c9"))},
			"",
			`FAIL "orders" 2 "enrich": chain orders, step 2 (enrich): Customer {"id":"c9"} not found`},
		{"a shipment", Input{ID: "m6", Connector: "carrier",
			Payload: []byte(`{"event":"shipped","order":"o-17","customer":"c1","parcel":1,"tracking_no":"JVGL123","carrier":"postnl","weight":1.25,"ts":"2024-05-03T08:00:00Z"}`)},
			"shipments",
			`Shipment/0 {"carrier":"postnl","customer_id":"c1","delivered":false,"order_id":"o-17","seq":1,"shipped":"2024-05-03T08:00:00Z","tracking":"JVGL123","weight_kg":1.25}`},
		{"another carrier event", Input{ID: "m7", Connector: "carrier", Payload: []byte(`{"event":"delivered","order":"o-17"}`)},
			"shipments", ``},
		{"a product", Input{ID: "m8", Connector: "catalog",
			Payload: []byte(`{"sku":"p1","title":"Gödel, Escher, Bach","price":"24.50","weight_kg":1.1,"stock":3,"image":null,"category":"books","tags":["math"],"attributes":{"lang":"en"},"_meta":{"v":2}}`)},
			"products",
			`Product/0 {"attributes":{"lang":"en"},"category":"books","image":null,"price":"24.50","sku":"p1","stock":3,"tags":["math"],"title":"Gödel, Escher, Bach","weight_kg":1.1}`},
		{"test traffic", Input{ID: "m9", Connector: "shop", Headers: map[string]string{"X-Test": "1"}, Payload: []byte(`{"kind":"order"}`)},
			"discard", `-> test-sink {"kind":"order"}`},
		{"an unknown connector", Input{ID: "m10", Connector: "fax", Payload: []byte(`{}`)},
			"", `FAIL "" -1 "": no rule matched`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := p.Run(&tc.in, testLookup, testNow)
			checkOutcome(t, o)
			if got := summary(o); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			if got := strings.Join(o.Keys, " "); got != tc.keys {
				t.Errorf("keys %q, want %q", got, tc.keys)
			}
			for _, obj := range o.Objects {
				typ, ok := m.Type(obj.Type)
				if !ok {
					t.Fatalf("the model has no type %s", obj.Type)
				}
				version := obj.Version
				if version == 0 {
					version = typ.Latest()
				}
				if _, err := typ.Validate(version, obj.Value); err != nil {
					t.Errorf("%s/%d %s does not fit the model: %v", obj.Type, version, obj.Value, err)
				}
			}
		})
	}
}
