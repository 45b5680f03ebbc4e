package connector_test

import (
	"errors"
	"regexp"
	"slices"
	"testing"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/core/yamlcheck"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// fuzzPipeline is a whole pipeline file with a connectors section using
// every built-in type and most keys.
const fuzzPipeline = `routes: {default: k}
chains:
  k:
    - outbound: audit
    - outbound: {destination: events}
    - set-type: T
connectors:
  inbound:
    web: {type: http, max_body: 8MiB, max_items: 1000, token_sha256: [628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02]}
    orders:
      type: kafka
      brokers: [localhost:9092]
      topic: orders
      group: shoal-orders
      max_batch: 100
      start: earliest
  outbound:
    audit:
      type: webhook
      url: https://audit.example/hook
      method: POST
      headers: {X-Source: shoal}
      body: '{"key": {{json .Key}}, "order": {{.Value}}, "id": {{with index .Object "id"}}{{json .}}{{else}}null{{end}}}'
      max_attempts: 20
      backoff_min: 200ms
      backoff_max: 10s
      timeout: 10s
      batch: 64
      in_flight: 4
    events:
      type: kafka
      brokers: [localhost:9092]
      topic: shoal-events
      key: '{{.Key}}/{{.Seq}}'
      headers: {X-Source: shoal}
      value: '{{range $k, $v := .Object}}{{$k}}={{printf "%v" $v}};{{end}}'
`

// fuzzMessages are rendered by every destination of every pipeline
// FuzzParse accepts.
var fuzzMessages = []*connector.Message{
	{},
	{Destination: "audit", Seq: 1, IdempotencyKey: "i", MessageID: "m", Key: "k", Value: []byte(`{"id":"o1","n":1.5,"a":[1,{"b":null}]}`)},
	{Value: []byte(`[1,2`)},
	{Seq: 1000, Value: []byte(`"x"`)},
}

// digest is a SHA-256 digest as token_sha256 takes it.
var digest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// FuzzParse checks that parsing a pipeline file with a connectors section
// never panics, that its errors have the documented shape, that an
// accepted one's http connectors take only distinct lower-case digests,
// and that its destinations render any message without panicking.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fuzzPipeline))
	f.Add(examples.Pipeline)
	f.Add([]byte("routes: {default: k}\nchains: {k: [outbound: x]}\nconnectors: {outbound: {x: {type: webhook, url: 'http://h', body: '{{range .Seq}}{{end}}'}}}\n"))
	f.Add([]byte("routes: {default: k}\nchains: {k: [set-type: T]}\nconnectors: {inbound: {a: {type: sqs}}, outbound: {b: ~}}\n"))
	f.Add([]byte("routes: {default: k}\nchains: {k: [set-type: T]}\nconnectors: {inbound: {a: {type: http, token_sha256: [\"628B49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02\", 12, ~, [x]]}}}\n"))
	f.Add([]byte("routes: {default: k}\nchains: {k: [set-type: T]}\nconnectors: {inbound: {a: {type: http, token_sha256: 1234567890123456789012345678901234567890123456789012345678901234}}}\n"))
	f.Add([]byte("routes: {default: k}\nchains: {k: [set-type: T]}\nconnectors: {inbound: {r: {type: shoal, from: [dc1, X]}}, outbound: {o: {type: shoal, cluster: dc2, types: [T, T], urls: [\"ftp://x\"]}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, allow := range []bool{false, true} {
			p, err := handler.ParseWith("fuzz.yaml", data, handler.Options{AllowUnknown: allow})
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
				continue
			}
			if p.Connectors == nil {
				continue
			}
			for _, in := range p.Connectors.Inbound {
				h, ok := in.Spec.(*connector.HTTPInbound)
				if !ok {
					continue
				}
				if len(h.TokenSHA256) > connector.MaxTokens {
					t.Fatalf("%s takes %d tokens", in.Name, len(h.TokenSHA256))
				}
				for i, d := range h.TokenSHA256 {
					if !digest.MatchString(d) || slices.Contains(h.TokenSHA256[:i], d) {
						t.Fatalf("%s took the digest %q", in.Name, d)
					}
				}
			}
			for _, out := range p.Connectors.Outbound {
				if out.Spec == nil {
					if !allow {
						t.Fatalf("destination %s has no spec", out.Name)
					}
					continue
				}
				for _, m := range fuzzMessages {
					a, errA := out.Spec.Render(m)
					b, errB := out.Spec.Render(m)
					if (errA == nil) != (errB == nil) || string(a.Body) != string(b.Body) || string(a.Key) != string(b.Key) {
						t.Fatalf("%s renders a message two ways", out.Name)
					}
					if len(a.Body) > connector.MaxRendered || len(a.Key) > connector.MaxRendered {
						t.Fatalf("%s rendered %d bytes", out.Name, len(a.Body))
					}
				}
			}
		}
	})
}
