package handler

import (
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// sendsTo is a pipeline whose chains send to billing (short form) and
// review (long form); connectors is appended as it is.
func sendsTo(connectors string) string {
	return `routes: {default: k}
chains:
  k:
    - outbound: billing
    - outbound: {destination: review}
    - set-type: T
` + connectors
}

func TestConnectorsSection(t *testing.T) {
	// Without a section, any destination goes, as before.
	p := mustParse(t, sendsTo(""))
	if p.Connectors != nil {
		t.Errorf("a file without connectors has %+v", p.Connectors)
	}
	if p := mustParse(t, string(examples.Pipeline)); p.Connectors != nil {
		t.Errorf("the example pipeline has connectors: %+v", p.Connectors)
	}

	// With one, the destinations must be declared.
	p = mustParse(t, sendsTo(`connectors:
  inbound:
    web: {type: http}
  outbound:
    billing: {type: webhook, url: "https://billing.example/in"}
    review: {type: kafka, brokers: ["k:9092"], topic: review}
    unused: {type: webhook, url: "https://h"}
`))
	if p.Connectors == nil || p.Connectors.Destination("review").Spec.(*connector.KafkaOutbound).Topic != "review" ||
		p.Connectors.Connector("web") == nil {
		t.Fatalf("connectors = %+v", p.Connectors)
	}
	o := p.Run(&Input{Payload: []byte(`{"a":1}`)}, nil, testNow)
	if len(o.Outbound) != 2 || o.Outbound[0].Destination != "billing" || o.Outbound[1].Destination != "review" {
		t.Errorf("Run sent %+v", o.Outbound)
	}

	for _, tc := range []struct{ name, connectors, want string }{
		{"undeclared destinations", `connectors:
  outbound:
    biling: {type: webhook, url: "https://h"}
`, `p.yaml:4: chains.k[0].outbound: sends to destination "billing", which is not declared: add connectors.outbound.billing (did you mean biling?)
p.yaml:5: chains.k[1].outbound.destination: sends to destination "review", which is not declared: add connectors.outbound.review (one of biling)`},
		{"an empty section declares none", "connectors: {}\n",
			`p.yaml:4: chains.k[0].outbound: sends to destination "billing", which is not declared: add connectors.outbound.billing
p.yaml:5: chains.k[1].outbound.destination: sends to destination "review", which is not declared: add connectors.outbound.review`},
		{"a section with problems is not checked against", `connectors:
  outbound:
    billing: {type: webhok}
`, `p.yaml:9: connectors.outbound.billing.type: unknown outbound type "webhok" (did you mean webhook?)`},
		{"no value", "connectors:\n", "p.yaml:7: `connectors` has no value: give it one or leave the key out"},
		{"misspelt", "conectors: {}\n", `p.yaml:7: unknown key "conectors" (did you mean connectors?)`},
	} {
		_, err := Parse("p.yaml", []byte(sendsTo(tc.connectors)))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got\n%v\nwant\n%s", tc.name, err, tc.want)
		}
	}
}

func TestConnectorsAllowUnknown(t *testing.T) {
	src := sendsTo(`connectors:
  outbound:
    billing: {type: sqs, queue: q}
    review: {type: webhook, url: "https://h"}
`)
	if _, err := Parse("p.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), `unknown outbound type "sqs"`) {
		t.Fatalf("an unknown type: %v", err)
	}
	p, err := ParseWith("p.yaml", []byte(src), Options{AllowUnknown: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Connectors.Destination("billing"); d == nil || d.Type != "sqs" || d.Spec != nil {
		t.Errorf("billing = %+v", d)
	}
	// A destination still has to be declared.
	src = strings.Replace(src, "billing: {type: sqs", "billing2: {type: sqs", 1)
	if _, err := ParseWith("p.yaml", []byte(src), Options{AllowUnknown: true}); err == nil || !strings.Contains(err.Error(), `sends to destination "billing"`) {
		t.Errorf("an undeclared destination under AllowUnknown: %v", err)
	}
}
