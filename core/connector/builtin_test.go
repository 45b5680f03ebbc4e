package connector

import (
	"reflect"
	"strings"
	"testing"
)

// mustSection parses a section the test knows is good.
func mustSection(t *testing.T, file string) *Config {
	t.Helper()
	c, err := parseSection(file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWebhookRender(t *testing.T) {
	c := mustSection(t, `connectors:
  outbound:
    audit:
      type: webhook
      url: https://audit.example/hook
      headers: {X-Source: shoal, Authorization: Bearer t}
      body: '{"key": {{json .Key}}, "id": {{json .Object.id}}, "tier": {{json .Object.customer.tier}}, "order": {{.Value}}}'
    plain:
      type: webhook
      url: https://h/
      headers: {content-type: application/x-ndjson, A-First: "1"}
`)
	req, err := c.Destination("audit").Spec.Render(order)
	if err != nil {
		t.Fatal(err)
	}
	want := Request{
		Headers: []Header{
			{"Authorization", "Bearer t"}, {"Content-Type", "application/json"},
			{"Idempotency-Key", "rs1/audit/42"}, {"X-Source", "shoal"},
		},
		Body: []byte(`{"key": "orders", "id": "o-1", "tier": "gold", "order": ` + string(order.Value) + `}`),
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("audit:\n got %+v\nwant %+v", req, want)
	}

	// A configured Content-Type stays, whatever its case; the body
	// defaults to the value itself; headers sort byte by byte.
	req, err = c.Destination("plain").Spec.Render(order)
	if err != nil {
		t.Fatal(err)
	}
	want = Request{
		Headers: []Header{{"A-First", "1"}, {"Idempotency-Key", "rs1/audit/42"}, {"content-type", "application/x-ndjson"}},
		Body:    order.Value,
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("plain:\n got %+v\nwant %+v", req, want)
	}

	// A Webhook built by hand, without a template, sends the value.
	req, err = (&Webhook{URL: "http://h"}).Render(order)
	if err != nil || string(req.Body) != string(order.Value) || len(req.Headers) != 2 {
		t.Errorf("no template: %+v, %v", req, err)
	}
	req.Body[0] = 'X'
	if order.Value[0] != '{' {
		t.Fatalf("Render's body shares the message's value")
	}
}

func TestKafkaRender(t *testing.T) {
	c := mustSection(t, `connectors:
  outbound:
    events:
      type: kafka
      brokers: [localhost:9092]
      topic: shoal-events
      headers: {X-Source: shoal}
    keyed:
      type: kafka
      brokers: [localhost:9092]
      topic: t
      key: '{{.Object.customer.name}}/{{.Seq}}'
      value: '{"id": {{json .Object.id}}}'
`)
	req, err := c.Destination("events").Spec.Render(order)
	if err != nil {
		t.Fatal(err)
	}
	want := Request{
		Key:     []byte("orders"),
		Headers: []Header{{"Idempotency-Key", "rs1/audit/42"}, {"X-Source", "shoal"}},
		Body:    order.Value,
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("events:\n got %+v\nwant %+v", req, want)
	}
	req, err = c.Destination("keyed").Spec.Render(order)
	if err != nil {
		t.Fatal(err)
	}
	want = Request{
		Key:     []byte("Ada <a@b>/42"),
		Headers: []Header{{"Idempotency-Key", "rs1/audit/42"}},
		Body:    []byte(`{"id": "o-1"}`),
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("keyed:\n got %+v\nwant %+v", req, want)
	}
	req, err = (&KafkaOutbound{Topic: "t"}).Render(order)
	if err != nil || string(req.Key) != "orders" || string(req.Body) != string(order.Value) {
		t.Errorf("no templates: %+v, %v", req, err)
	}
}

func TestRenderErrors(t *testing.T) {
	c := mustSection(t, `connectors:
  outbound:
    hook: {type: webhook, url: "http://h", body: '{{.Object.missing}}'}
    plain: {type: webhook, url: "http://h"}
    key: {type: kafka, brokers: ["h:1"], topic: t, key: '{{.Object.missing}}'}
    value: {type: kafka, brokers: ["h:1"], topic: t, value: '{{.Value}}{{.Value}}'}
`)
	big := &Message{Value: []byte(`"` + strings.Repeat("x", MaxRendered/2) + `"`)}
	huge := &Message{Value: []byte(`"` + strings.Repeat("x", MaxRendered) + `"`)}
	for _, tc := range []struct {
		dest string
		m    *Message
		want string
	}{
		{"hook", order, `template: body:1:9: executing "body" at <.Object.missing>: map has no entry for key "missing"`},
		{"key", order, `template: key:1:9: executing "key" at <.Object.missing>: map has no entry for key "missing"`},
		{"value", big, `template: value: renders over 4 MiB (MaxRendered)`},
		{"plain", huge, `template: body: renders over 4 MiB (MaxRendered)`},
	} {
		req, err := c.Destination(tc.dest).Spec.Render(tc.m)
		if err == nil || err.Error() != tc.want || !reflect.DeepEqual(req, Request{}) {
			t.Errorf("%s: %.40v, %v; want %s", tc.dest, req, err, tc.want)
		}
	}
	if _, err := (&Webhook{}).Render(huge); err == nil || !strings.Contains(err.Error(), "renders over 4 MiB") {
		t.Errorf("a hand-built webhook rendered %d bytes: %v", len(huge.Value), err)
	}
}

func TestHTTPInboundAuthorizes(t *testing.T) {
	c := mustSection(t, `connectors:
  inbound:
    rotated:
      type: http
      token_sha256:
        - 628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02 # sha256("t1")
        - c44474038d459e40e4714afefa7bf8dae9f9834b22f5e8ec1dd434ecb62b512e # sha256("t2")
    open: {type: http}
`)
	rotated := c.Connector("rotated").Spec.(*HTTPInbound)
	open := c.Connector("open").Spec.(*HTTPInbound)
	if !rotated.NeedsToken() || open.NeedsToken() {
		t.Errorf("NeedsToken: rotated %v, open %v", rotated.NeedsToken(), open.NeedsToken())
	}
	for _, tc := range []struct {
		token string
		want  bool
	}{
		{"t1", true}, {"t2", true},
		{"", false}, {"t3", false}, {"T1", false}, {"t1 ", false}, {" t1", false}, {"t1\x00", false},
		// A digest is not its token.
		{"628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02", false},
	} {
		if got := rotated.Authorizes(tc.token); got != tc.want {
			t.Errorf("Authorizes(%q) = %v, want %v", tc.token, got, tc.want)
		}
		if open.Authorizes(tc.token) {
			t.Errorf("a connector without token_sha256 authorizes %q: it asks for no token, and takes none as proof", tc.token)
		}
	}
}
