package connector

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/yamlcheck"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// parseSection reads file, a YAML document whose connectors key holds a
// section, as a pipeline file embeds it.
func parseSection(file string, o Options) (*Config, error) {
	r := yamlcheck.Report{File: "p.yaml"}
	root := yamlcheck.Document(&r, []byte(file), "pipeline")
	if root == nil {
		return nil, r.Err()
	}
	r.Addf(nil, "", "no connectors key")
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "connectors" {
			r = yamlcheck.Report{File: "p.yaml"}
			c := ParseNode(&r, root.Content[i+1], "connectors", o)
			if err := r.Err(); err != nil {
				if c != nil {
					return nil, fmt.Errorf("ParseNode returned a config with its problems: %v", err)
				}
				return nil, err
			}
			return c, nil
		}
	}
	return nil, r.Err()
}

// invalidSections are connectors sections ParseNode must reject;
// testdata/invalid-sections.golden holds the exact messages.
var invalidSections = []struct{ name, file string }{
	{"not a mapping", "connectors: [web]\n"},
	{"top keys", `connectors:
  inbond: {}
  outbound: ~
  "inbound": {web: {type: http}}
  inbound: {}
`},
	{"inbound and outbound not mappings", "connectors:\n  inbound: [web]\n  outbound: web\n"},
	{"names", `connectors:
  inbound:
    Web_1: {type: http}
    "-web": {type: http}
    "web hook": {type: http}
    web: {type: http}
    web: {type: http}
  outbound:
    ` + strings.Repeat("a", MaxNameLen+1) + `: {type: webhook, url: "http://h"}
    [a]: {type: webhook, url: "http://h"}
`},
	{"entries", `connectors:
  inbound:
    a:
    b: [type, http]
    c: {max_body: 1MiB}
    d: {type: 3}
    e: {type: HTTP}
    f: {type: htp}
    g: {type: ""}
    h: {type: ~}
  outbound:
    a: ~
    b: {type: webhok, url: "http://h"}
    c: {type: sqs}
`},
	{"unknown keys", `connectors:
  inbound:
    web: {type: http, max_bodie: 1MiB, maxitems: 5, color: blue}
  outbound:
    audit: {type: webhook, url: "http://h", max_attempt: 3, hedaers: {}, retries: 3}
`},
	{"http", `connectors:
  inbound:
    a: {type: http, max_body: 65MiB, max_items: 0}
    b: {type: http, max_body: 8 mb, max_items: many}
    c: {type: http, max_body: -1, max_items: 100001}
    d: {type: http, max_body: 1.5MiB}
    e: {type: http, max_body: 99999999999999999999GiB}
    f: {type: http, max_body: 0}
`},
	{"http tokens", `connectors:
  inbound:
    a: {type: http, token_sha256: []}
    b: {type: http, token_sha256: {t: 1}}
    c: {type: http, token_sha256: 628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc0}
    d:
      type: http
      token_sha256:
        - 628B49D96DCDE97A430DD4F597705899E09A968F793491E4B704CAE33A40DC02
        - 628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dcxz
        - "628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02 "
        - 628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02
        - c44474038d459e40e4714afefa7bf8dae9f9834b22f5e8ec1dd434ecb62b512e
        - 628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02
        - 1234567890123456789012345678901234567890123456789012345678901234
        - ~
        - [628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02]
        - shoal_ingest_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
        - "628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc0é"
    e: {type: http, token_sha256: ` + "[" + strings.Repeat("c44474038d459e40e4714afefa7bf8dae9f9834b22f5e8ec1dd434ecb62b512e, ", MaxTokens+1) + "]" + `}
    f: {type: http, token_sha256: ~}
    g: {type: http, token_sha256: secret}
`},
	{"kafka inbound", `connectors:
  inbound:
    a: {type: kafka}
    b: {type: kafka, brokers: [], topic: ""}
    c: {type: kafka, brokers: [localhost], topic: "a b"}
    d: {type: kafka, brokers: ["h:1", "h:1"], topic: ".."}
    e: {type: kafka, brokers: ["h:0"], topic: t, start: newest, max_batch: 10001, max_in_flight: 0}
    f: {type: kafka, brokers: [3, "", {a: 1}], topic: [t], group: "a\tb"}
    g: {type: kafka, brokers: "h:65536", topic: t}
    h: {type: kafka, brokers: ["[::1:9092"], topic: t, group: ~}
`},
	{"webhook", `connectors:
  outbound:
    a: {type: webhook}
    b: {type: webhook, url: "ftp://h/x", method: GET}
    c: {type: webhook, url: "/hook", method: post}
    d: {type: webhook, url: "https://", body: 3}
    e: {type: webhook, url: "mailto:a@b"}
    f: {type: webhook, url: "http://h", body: "{{.Vlaue}}"}
    g: {type: webhook, url: "http://h", body: "{{json .Key}"}
    h: {type: webhook, url: "http://h", body: "{{jsn .Key}}"}
    i:
      type: webhook
      url: "http://h"
      body: |
        {"a": 1,
         "b": {{.Object.x | nope}}}
`},
	{"headers", `connectors:
  outbound:
    a:
      type: webhook
      url: "http://h"
      headers:
        "Bad Name": x
        X-A: 1
        x-a: 2
        X-B: "a\nb"
        Idempotency-key: mine
        X-C: [c]
        X-D: ~
    b: {type: webhook, url: "http://h", headers: [X-A]}
    c: {type: kafka, brokers: ["h:1"], topic: t, headers: {IDEMPOTENCY-KEY: x}}
`},
	{"templates", `connectors:
  outbound:
    a: {type: kafka, brokers: ["h:1"], topic: t, key: '{{define "x"}}{{end}}'}
    b: {type: kafka, brokers: ["h:1"], topic: t, key: '{{block "x" .}}{{end}}'}
    c: {type: kafka, brokers: ["h:1"], topic: t, value: '{{range .Object}}{{.Vlaue}}{{end}}{{$.Sq}}'}
    d: {type: kafka, brokers: ["h:1"], topic: t, value: '{{_connector_loop $}}'}
    e: {type: kafka, brokers: ["h:1"], topic: t, value: '{{with .Object}}{{.x}}{{else}}{{.Nope}}{{end}}'}
    f: {type: kafka, brokers: ["h:1"], topic: t, value: '{{if .Key}}{{(.Object).x}}{{.Destinaton}}{{end}}'}
`},
	{"delivery", `connectors:
  outbound:
    a: {type: webhook, url: "http://h", max_attempts: 0, backoff_min: 0ms, backoff_max: 25h, timeout: 10, batch: 2000, in_flight: 65}
    b: {type: webhook, url: "http://h", backoff_min: 2s, backoff_max: 1s}
    c: {type: webhook, url: "http://h", backoff_min: 30s}
    d: {type: webhook, url: "http://h", timeout: soon, batch: 1.5, max_attempts: "3"}
    e: {type: sqs, max_attempts: 0}
`},
	{"no type, no unknown keys", `connectors:
  outbound:
    a: {url: "http://h", colour: red}
`},
}

func TestParseErrors(t *testing.T) {
	// Every error names the file and a line, and a path.
	shape := regexp.MustCompile(`^p\.yaml:[1-9][0-9]*: connectors[.:]`)
	var out strings.Builder
	for _, tc := range invalidSections {
		c, err := parseSection(tc.file, Options{})
		if err == nil {
			t.Errorf("%s: ParseNode accepted it: %+v", tc.name, c)
			continue
		}
		var list yamlcheck.ErrorList
		if !errors.As(err, &list) {
			t.Errorf("%s: error %T is no ErrorList: %v", tc.name, err, err)
		}
		for _, e := range list {
			if !shape.MatchString(e.Error()) {
				t.Errorf("%s: malformed error %q", tc.name, e)
			}
		}
		fmt.Fprintf(&out, "== %s\n%s\n", tc.name, err)
	}
	golden(t, "invalid-sections.golden", out.String())
}

// exampleSection is the section of the package doc's format, every key
// set.
const exampleSection = `connectors:
  inbound:
    web:
      type: http
      max_body: 8MiB
      max_items: 1000
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
      body: '{"key": {{json .Key}}, "order": {{.Value}}}'
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
      key: '{{.Key}}'
      headers: {X-Source: shoal}
      value: '{{.Value}}'
`

// describe writes c for comparisons, every Template as its source.
func describe(c *Config) string {
	var b strings.Builder
	for _, in := range c.Inbound {
		if h, ok := in.Spec.(*HTTPInbound); ok && !h.NeedsToken() {
			// As before token_sha256, which most connectors leave out.
			fmt.Fprintf(&b, "in %s %s line %d: &{MaxBody:%d MaxItems:%d}\n", in.Name, in.Type, in.Line, h.MaxBody, h.MaxItems)
			continue
		}
		fmt.Fprintf(&b, "in %s %s line %d: %+v\n", in.Name, in.Type, in.Line, in.Spec)
	}
	for _, out := range c.Outbound {
		fmt.Fprintf(&b, "out %s %s line %d %+v:", out.Name, out.Type, out.Line, out.Delivery)
		switch s := out.Spec.(type) {
		case *Webhook:
			fmt.Fprintf(&b, " url=%s method=%s headers=%v body=%s", s.URL, s.Method, s.Headers, s.Body.Source())
		case *KafkaOutbound:
			fmt.Fprintf(&b, " brokers=%v topic=%s key=%s value=%s headers=%v", s.Brokers, s.Topic, s.Key.Source(), s.Value.Source(), s.Headers)
		default:
			fmt.Fprintf(&b, " %+v", s)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestParse(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"the example", exampleSection, `in orders kafka line 7: &{Brokers:[localhost:9092] Topic:orders Group:shoal-orders MaxBatch:100 Start:earliest InFlight:16}
in web http line 3: &{MaxBody:8388608 MaxItems:1000}
out audit webhook line 15 {MaxAttempts:20 BackoffMin:200ms BackoffMax:10s Timeout:10s Batch:64 InFlight:4}: url=https://audit.example/hook method=POST headers=[{X-Source shoal}] body={"key": {{json .Key}}, "order": {{.Value}}}
out events kafka line 27 {MaxAttempts:20 BackoffMin:200ms BackoffMax:10s Timeout:10s Batch:64 InFlight:4}: brokers=[localhost:9092] topic=shoal-events key={{.Key}} value={{.Value}} headers=[{X-Source shoal}]
`},
		{"defaults", `connectors:
  inbound:
    web: {type: http}
    k: {type: kafka, brokers: "kafka-1.internal:9092", topic: t}
  outbound:
    hook: {type: webhook, url: "http://h:8080/x?y=1"}
    k: {type: kafka, brokers: ["[::1]:9092", "10.0.0.1:9092"], topic: t}
`, `in k kafka line 4: &{Brokers:[kafka-1.internal:9092] Topic:t Group:shoal-k MaxBatch:100 Start:earliest InFlight:16}
in web http line 3: &{MaxBody:8388608 MaxItems:1000}
out hook webhook line 6 {MaxAttempts:20 BackoffMin:200ms BackoffMax:10s Timeout:10s Batch:64 InFlight:4}: url=http://h:8080/x?y=1 method=POST headers=[] body={{.Value}}
out k kafka line 7 {MaxAttempts:20 BackoffMin:200ms BackoffMax:10s Timeout:10s Batch:64 InFlight:4}: brokers=[[::1]:9092 10.0.0.1:9092] topic=t key={{.Key}} value={{.Value}} headers=[]
`},
		{"limits and units", `connectors:
  inbound:
    a: {type: http, max_body: 64MiB, max_items: 100000}
    b: {type: http, max_body: 1, max_items: 1}
    c: {type: http, max_body: 512 KiB}
    d: {type: http, max_body: 1000B}
    e: {type: kafka, brokers: [h:1], topic: t, max_batch: 10000, start: latest, group: g, max_in_flight: 256}
  outbound:
    a: {type: webhook, url: "https://h", method: PATCH, max_attempts: 1000, backoff_min: 1h, backoff_max: 24h, timeout: 10m, batch: 1024, in_flight: 64}
    b: {type: webhook, url: "https://h", method: PUT, max_attempts: 1, backoff_min: 1ms, backoff_max: 1ms, timeout: 1ms, batch: 1, in_flight: 1}
    c: {type: webhook, url: "https://h", backoff_max: 100ms, backoff_min: 100ms, headers: {b: "2", A: "1", Content-Type: text/plain}}
`, `in a http line 3: &{MaxBody:67108864 MaxItems:100000}
in b http line 4: &{MaxBody:1 MaxItems:1}
in c http line 5: &{MaxBody:524288 MaxItems:1000}
in d http line 6: &{MaxBody:1000 MaxItems:1000}
in e kafka line 7: &{Brokers:[h:1] Topic:t Group:g MaxBatch:10000 Start:latest InFlight:256}
out a webhook line 9 {MaxAttempts:1000 BackoffMin:1h0m0s BackoffMax:24h0m0s Timeout:10m0s Batch:1024 InFlight:64}: url=https://h method=PATCH headers=[] body={{.Value}}
out b webhook line 10 {MaxAttempts:1 BackoffMin:1ms BackoffMax:1ms Timeout:1ms Batch:1 InFlight:1}: url=https://h method=PUT headers=[] body={{.Value}}
out c webhook line 11 {MaxAttempts:20 BackoffMin:100ms BackoffMax:100ms Timeout:10s Batch:64 InFlight:4}: url=https://h method=POST headers=[{A 1} {Content-Type text/plain} {b 2}] body={{.Value}}
`},
		{"tokens", `connectors:
  inbound:
    a: {type: http, token_sha256: [628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02]}
    b:
      type: http
      token_sha256:
        - "628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02"
        - 'c44474038d459e40e4714afefa7bf8dae9f9834b22f5e8ec1dd434ecb62b512e'
    c: {type: http, token_sha256: c44474038d459e40e4714afefa7bf8dae9f9834b22f5e8ec1dd434ecb62b512e}
    d: {type: http, token_sha256: ` + "[" + strings.Repeat("0", 63) + "1, " + strings.Repeat("0", 63) + "2, " + strings.Repeat("0", 63) + "3, " + strings.Repeat("0", 63) + "4, " + strings.Repeat("0", 63) + "5, " + strings.Repeat("0", 63) + "6, " + strings.Repeat("0", 63) + "7, " + strings.Repeat("0", 63) + "8, " + strings.Repeat("0", 63) + "9, " + strings.Repeat("0", 63) + "a, " + strings.Repeat("0", 63) + "b, " + strings.Repeat("0", 63) + "c, " + strings.Repeat("0", 63) + "d, " + strings.Repeat("0", 63) + "e, " + strings.Repeat("0", 63) + "f, " + strings.Repeat("f", 64) + "]" + `}
`, `in a http line 3: &{MaxBody:8388608 MaxItems:1000 TokenSHA256:[628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02]}
in b http line 4: &{MaxBody:8388608 MaxItems:1000 TokenSHA256:[628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02 c44474038d459e40e4714afefa7bf8dae9f9834b22f5e8ec1dd434ecb62b512e]}
in c http line 9: &{MaxBody:8388608 MaxItems:1000 TokenSHA256:[c44474038d459e40e4714afefa7bf8dae9f9834b22f5e8ec1dd434ecb62b512e]}
in d http line 10: &{MaxBody:8388608 MaxItems:1000 TokenSHA256:[` + strings.Repeat("0", 63) + "1 " + strings.Repeat("0", 63) + "2 " + strings.Repeat("0", 63) + "3 " + strings.Repeat("0", 63) + "4 " + strings.Repeat("0", 63) + "5 " + strings.Repeat("0", 63) + "6 " + strings.Repeat("0", 63) + "7 " + strings.Repeat("0", 63) + "8 " + strings.Repeat("0", 63) + "9 " + strings.Repeat("0", 63) + "a " + strings.Repeat("0", 63) + "b " + strings.Repeat("0", 63) + "c " + strings.Repeat("0", 63) + "d " + strings.Repeat("0", 63) + "e " + strings.Repeat("0", 63) + "f " + strings.Repeat("f", 64) + `]}
`},
		{"empty", "connectors: {}\n", ""},
		{"empty directions", "connectors: {inbound: {}, outbound: {}}\n", ""},
	} {
		c, err := parseSection(tc.file, Options{})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := describe(c); got != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

func TestConfigLookups(t *testing.T) {
	c, err := parseSection(exampleSection, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if in := c.Connector("orders"); in == nil || in.Spec.(*KafkaInbound).Topic != "orders" {
		t.Errorf("Connector(orders) = %+v", in)
	}
	if out := c.Destination("audit"); out == nil || out.Spec.(*Webhook).URL != "https://audit.example/hook" {
		t.Errorf("Destination(audit) = %+v", out)
	}
	if c.Connector("audit") != nil || c.Destination("web") != nil || (*Config)(nil).Destination("audit") != nil {
		t.Errorf("a lookup found what is not there")
	}
}

func TestParseLimits(t *testing.T) {
	entries := func(dir, entry string, n int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "connectors:\n  %s:\n", dir)
		for i := range n {
			fmt.Fprintf(&b, "    c%d: %s\n", i, entry)
		}
		return b.String()
	}
	for _, tc := range []struct{ dir, entry, what string }{
		{"inbound", "{type: http}", "connectors"},
		{"outbound", "{type: webhook, url: 'http://h'}", "destinations"},
	} {
		if _, err := parseSection(entries(tc.dir, tc.entry, MaxConnectors), Options{}); err != nil {
			t.Errorf("%d %s: %v", MaxConnectors, tc.what, err)
		}
		_, err := parseSection(entries(tc.dir, tc.entry, MaxConnectors+1), Options{})
		if want := fmt.Sprintf("p.yaml:3: connectors.%s: has 65 %s, at most 64", tc.dir, tc.what); err == nil || err.Error() != want {
			t.Errorf("%d %s: %v, want %s", MaxConnectors+1, tc.what, err, want)
		}
	}

	headers := func(n int) string {
		var hs []string
		for i := range n {
			hs = append(hs, fmt.Sprintf("X-%d: v", i))
		}
		return "connectors:\n  outbound:\n    h: {type: webhook, url: 'http://h', headers: {" + strings.Join(hs, ", ") + "}}\n"
	}
	if _, err := parseSection(headers(MaxHeaders), Options{}); err != nil {
		t.Errorf("%d headers: %v", MaxHeaders, err)
	}
	_, err := parseSection(headers(MaxHeaders+1), Options{})
	if want := "p.yaml:3: connectors.outbound.h.headers: has 65 headers, at most 64"; err == nil || err.Error() != want {
		t.Errorf("%d headers: %v, want %s", MaxHeaders+1, err, want)
	}
	value := "connectors:\n  outbound:\n    h: {type: webhook, url: 'http://h', headers: {X-A: '" + strings.Repeat("v", MaxHeaderSize+1) + "'}}\n"
	if _, err := parseSection(value, Options{}); err == nil || !strings.HasSuffix(err.Error(), "headers.X-A: is 8193 bytes, at most 8192") {
		t.Errorf("a long header value: %v", err)
	}

	body := func(n int) string {
		return "connectors:\n  outbound:\n    h: {type: webhook, url: 'http://h', body: '" + strings.Repeat("x", n) + "'}\n"
	}
	if _, err := parseSection(body(MaxTemplate), Options{}); err != nil {
		t.Errorf("a template of %d bytes: %v", MaxTemplate, err)
	}
	_, err = parseSection(body(MaxTemplate+1), Options{})
	if want := "p.yaml:3: connectors.outbound.h.body: the template is 16385 bytes, over the limit of 16 KiB"; err == nil || err.Error() != want {
		t.Errorf("a template of %d bytes: %v, want %s", MaxTemplate+1, err, want)
	}
}

func TestParseAllowUnknown(t *testing.T) {
	file := `connectors:
  inbound:
    q: {type: sqs, queue: "https://sqs/q", anything: [1, 2]}
    web: {type: http}
  outbound:
    pub: {type: pubsub, topic: t, max_attempts: 5}
`
	if _, err := parseSection(file, Options{}); err == nil {
		t.Fatal("unknown types accepted without AllowUnknown")
	}
	c, err := parseSection(file, Options{AllowUnknown: true})
	if err != nil {
		t.Fatal(err)
	}
	if in := c.Connector("q"); in == nil || in.Type != "sqs" || in.Spec != nil {
		t.Errorf("q = %+v", in)
	}
	if c.Connector("web").Spec == nil {
		t.Errorf("a known type lost its spec")
	}
	want := DefaultDelivery
	want.MaxAttempts = 5
	if out := c.Destination("pub"); out == nil || out.Type != "pubsub" || out.Spec != nil || out.Delivery != want {
		t.Errorf("pub = %+v", out)
	}
	// The delivery keys are the engine's, and checked whatever the type;
	// a known type is checked as ever; a type must still be a name.
	for _, bad := range []string{
		"connectors: {outbound: {pub: {type: pubsub, max_attempts: 0}}}\n",
		"connectors: {outbound: {pub: {type: pubsub, backoff_min: 1m, backoff_max: 1s}}}\n",
		"connectors: {inbound: {web: {type: http, max_body: lots}}}\n",
		"connectors: {inbound: {web: {type: Http}}}\n",
		"connectors: {inbound: {web: {type: sqs, x: 1, x: 2}}}\n",
		"connectors: {inbound: {web: [sqs]}}\n",
	} {
		if _, err := parseSection(bad, Options{AllowUnknown: true}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
