package connector_test

import (
	"fmt"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/handler"
)

// A pipeline file's connectors section, and the request its webhook
// sends for one message of the outbound queue.
func Example() {
	p, err := handler.Parse("pipeline.yaml", []byte(`
routes: {default: orders}
chains:
  orders:
    - outbound: audit
    - set-type: Order
connectors:
  inbound:
    web: {type: http, max_body: 1MiB}
  outbound:
    audit:
      type: webhook
      url: https://audit.example/hook
      headers: {X-Source: shoal}
      body: '{"key": {{json .Key}}, "id": {{json .Object.id}}, "order": {{.Value}}}'
      max_attempts: 5
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	audit := p.Connectors.Destination("audit")
	fmt.Println(audit.Type, audit.Spec.(*connector.Webhook).URL, audit.Delivery.MaxAttempts, audit.Delivery.Timeout)
	req, err := audit.Spec.Render(&connector.Message{
		Destination: "audit", Seq: 7, IdempotencyKey: "rs1/audit/7", MessageID: "m1", Key: "orders",
		Value: []byte(`{"id":"o-1","amount":12.50}`),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range req.Headers {
		fmt.Printf("%s: %s\n", h.Name, h.Value)
	}
	fmt.Printf("%s\n", req.Body)
	// Output:
	// webhook https://audit.example/hook 5 10s
	// Content-Type: application/json
	// Idempotency-Key: rs1/audit/7
	// X-Source: shoal
	// {"key": "orders", "id": "o-1", "order": {"id":"o-1","amount":12.50}}
}

// A parse error names the file, the line and the path of the value.
// Outbound steps are checked against a section with no problems of its
// own.
func Example_errors() {
	section := `
connectors:
  outbound:
    audit: {type: webhook, url: "ftp://audit.example", retries: 3}
`
	_, err := handler.Parse("pipeline.yaml", []byte("routes: {default: orders}\nchains: {orders: [outbound: adit]}"+section))
	fmt.Println(err)
	_, err = handler.Parse("pipeline.yaml", []byte("routes: {default: orders}\nchains: {orders: [outbound: adit]}\nconnectors: {outbound: {audit: {type: webhook, url: https://h}}}\n"))
	fmt.Println(err)
	// Output:
	// pipeline.yaml:5: connectors.outbound.audit.url: must be an absolute http or https URL with a host, such as https://audit.example/hook, got "ftp://audit.example"
	// pipeline.yaml:5: connectors.outbound.audit: unknown key "retries"
	// pipeline.yaml:2: chains.orders[0].outbound: sends to destination "adit", which is not declared: add connectors.outbound.adit (did you mean audit?)
}
