package connector

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/shoaldb/shoal/core/yamlcheck"
)

// The built-in types: http and kafka in, webhook and kafka out. core/live's
// adapters read their fields; the engine calls the outbound ones' Render.

// Limits and defaults of the built-in types' keys.
const (
	DefaultMaxBody  = 8 << 20  // http max_body
	MaxBody         = 64 << 20 // the largest http max_body
	DefaultMaxItems = 1000     // http max_items
	MaxItems        = 100000
	DefaultMaxBatch = 100 // kafka max_batch
	MaxBatch        = 10000
)

// idempotencyHeader carries a message's idempotency key in every request
// of the built-in outbound types; the engine sets it, a file may not.
const idempotencyHeader = "Idempotency-Key"

func init() {
	registerBuiltinInbound("http", parseHTTPInbound)
	registerBuiltinInbound("kafka", parseKafkaInbound)
	registerBuiltinOutbound("webhook", parseWebhook)
	registerBuiltinOutbound("kafka", parseKafkaOutbound)
}

func registerBuiltinInbound(typ string, parse func(*Params) InboundSpec) {
	RegisterInbound(typ, parse)
	registry.inbound[typ].builtin = true
}

func registerBuiltinOutbound(typ string, parse func(*Params) OutboundSpec) {
	RegisterOutbound(typ, parse)
	registry.outbound[typ].builtin = true
}

// HTTPInbound is an http connector: clients POST a JSON object, or NDJSON
// (one object a line), to the HTTP API under the connector's name.
type HTTPInbound struct {
	MaxBody  int64 // bytes of a request's body (max_body: 1..64MiB, default 8MiB)
	MaxItems int   // NDJSON lines in one request (max_items: 1..100000, default 1000)
}

// Type returns "http".
func (*HTTPInbound) Type() string { return "http" }

func parseHTTPInbound(p *Params) InboundSpec {
	return &HTTPInbound{
		MaxBody:  p.Bytes("max_body", 1, MaxBody, DefaultMaxBody),
		MaxItems: p.Int("max_items", 1, MaxItems, DefaultMaxItems),
	}
}

// KafkaInbound is a kafka connector: a consumer group reading one topic.
type KafkaInbound struct {
	Brokers  []string // host:port each (brokers, required)
	Topic    string   // topic, required
	Group    string   // the consumer group (group; default "shoal-" and the connector's name)
	MaxBatch int      // records enqueued per fetch (max_batch: 1..10000, default 100)
	Start    string   // where a new group starts: earliest (the default) or latest
}

// Type returns "kafka".
func (*KafkaInbound) Type() string { return "kafka" }

func parseKafkaInbound(p *Params) InboundSpec {
	k := &KafkaInbound{
		Brokers:  brokers(p),
		Topic:    topic(p),
		Group:    p.String("group", false),
		MaxBatch: p.Int("max_batch", 1, MaxBatch, DefaultMaxBatch),
		Start:    p.OneOf("start", []string{"earliest", "latest"}, "earliest"),
	}
	if k.Group == "" {
		k.Group = "shoal-" + p.Name()
	} else if !validGroup(k.Group) {
		p.Errorf("group", "%s is not valid: a consumer group is at most 255 bytes of printable characters", yamlcheck.Quote(k.Group))
	}
	return k
}

// Webhook is a webhook destination: each message is one HTTP request.
type Webhook struct {
	URL     string   // absolute, http or https (url, required)
	Method  string   // POST (the default), PUT or PATCH
	Headers []Header // sorted by name; Render adds Content-Type and Idempotency-Key
	Body    *Template
}

// Type returns "webhook".
func (*Webhook) Type() string { return "webhook" }

// Render gives the request for m: the body its template renders, and the
// configured headers plus Content-Type: application/json (unless
// configured) and Idempotency-Key: m.IdempotencyKey, sorted by name.
func (w *Webhook) Render(m *Message) (Request, error) {
	body, err := render(w.Body, m)
	if err != nil {
		return Request{}, err
	}
	hs := make([]Header, 0, len(w.Headers)+2)
	hs = append(hs, w.Headers...)
	if !slices.ContainsFunc(hs, func(h Header) bool { return strings.EqualFold(h.Name, "Content-Type") }) {
		hs = append(hs, Header{Name: "Content-Type", Value: "application/json"})
	}
	hs = append(hs, Header{Name: idempotencyHeader, Value: m.IdempotencyKey})
	sortHeaders(hs)
	return Request{Headers: hs, Body: body}, nil
}

func parseWebhook(p *Params) OutboundSpec {
	w := &Webhook{
		URL:     p.String("url", true),
		Method:  p.OneOf("method", []string{"POST", "PUT", "PATCH"}, "POST"),
		Headers: p.headers("headers", idempotencyHeader),
		Body:    p.Template("body", "{{.Value}}"),
	}
	if w.URL != "" {
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
			p.Errorf("url", "must be an absolute http or https URL with a host, such as https://audit.example/hook, got %s", yamlcheck.Quote(w.URL))
		}
	}
	return w
}

// KafkaOutbound is a kafka destination: each message is one record.
type KafkaOutbound struct {
	Brokers []string // host:port each (brokers, required)
	Topic   string   // topic, required
	Key     *Template
	Value   *Template
	Headers []Header // sorted by name; Render adds Idempotency-Key
}

// Type returns "kafka".
func (*KafkaOutbound) Type() string { return "kafka" }

// Render gives the record for m: its key and value (Body) as their
// templates render them, and the configured headers plus
// Idempotency-Key: m.IdempotencyKey, sorted by name.
func (k *KafkaOutbound) Render(m *Message) (Request, error) {
	var key []byte
	if k.Key == nil {
		key = []byte(m.Key)
	} else {
		var err error
		if key, err = k.Key.Execute(m); err != nil {
			return Request{}, err
		}
	}
	value, err := render(k.Value, m)
	if err != nil {
		return Request{}, err
	}
	hs := make([]Header, 0, len(k.Headers)+1)
	hs = append(hs, k.Headers...)
	hs = append(hs, Header{Name: idempotencyHeader, Value: m.IdempotencyKey})
	sortHeaders(hs)
	return Request{Key: key, Headers: hs, Body: value}, nil
}

func parseKafkaOutbound(p *Params) OutboundSpec {
	return &KafkaOutbound{
		Brokers: brokers(p),
		Topic:   topic(p),
		Key:     p.Template("key", "{{.Key}}"),
		Value:   p.Template("value", "{{.Value}}"),
		Headers: p.headers("headers", idempotencyHeader),
	}
}

// render executes t on m; a nil t renders the value itself.
func render(t *Template, m *Message) ([]byte, error) {
	if t != nil {
		return t.Execute(m)
	}
	if len(m.Value) > MaxRendered {
		return nil, fmt.Errorf("the value is %d bytes: it renders over 4 MiB (MaxRendered)", len(m.Value))
	}
	return slices.Clone(m.Value), nil
}

// brokers reads a kafka type's brokers.
func brokers(p *Params) []string {
	bs := p.Strings("brokers", true)
	for _, b := range bs {
		if !validHostPort(b) {
			p.Errorf("brokers", "%s is not host:port, such as kafka-1:9092", yamlcheck.Quote(b))
			return nil
		}
	}
	return bs
}

var topicPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)

// topic reads a kafka type's topic.
func topic(p *Params) string {
	t := p.String("topic", true)
	if t != "" && (!topicPattern.MatchString(t) || t == "." || t == "..") {
		p.Errorf("topic", "%s is not valid: a Kafka topic is letters, digits, ., _ and - (at most 249), not . or ..", yamlcheck.Quote(t))
	}
	return t
}

var hostPattern = regexp.MustCompile(`^([A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?\])$`)

// validHostPort reports whether s is host:port: a name, an IPv4 address
// or a bracketed IPv6 address, and a port in 1..65535.
func validHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return false
	}
	host, port := s[:i], s[i+1:]
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' || len(host) > 255 {
		return false
	}
	return hostPattern.MatchString(host)
}

// validGroup reports whether s may name a Kafka consumer group here.
func validGroup(s string) bool {
	return len(s) <= 255 && strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) < 0
}
