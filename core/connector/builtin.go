package connector

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shoaldb/shoal/core/yamlcheck"
	"go.yaml.in/yaml/v3"
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
	MaxTokens       = 16 // digests in an http token_sha256: the tokens valid at once, enough to rotate them
)

// TokenPrefix starts every token shoal ingest-token makes, so that a
// token written where its digest belongs is recognised and refused
// before the pipeline, which is replicated and readable through the
// API, stores it.
const TokenPrefix = "shoal_ingest_"

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
	// TokenSHA256 are the SHA-256 digests, in lower-case hex, of the
	// bearer tokens a request must carry one of (token_sha256: 1 to
	// MaxTokens, so that a new token can be added before the old one is
	// removed). None: a request needs no token. Only digests are kept:
	// the pipeline is replicated and readable through the API.
	TokenSHA256 []string
}

// Type returns "http".
func (*HTTPInbound) Type() string { return "http" }

// NeedsToken reports whether a request must carry a bearer token.
func (h *HTTPInbound) NeedsToken() bool { return len(h.TokenSHA256) > 0 }

// Authorizes reports whether token's SHA-256 digest is one of
// TokenSHA256. It compares with every digest, each in constant time, so
// that how long it takes says nothing of which digest, or how much of
// one, matched.
func (h *HTTPInbound) Authorizes(token string) bool {
	sum := sha256.Sum256([]byte(token))
	got := []byte(hex.EncodeToString(sum[:]))
	match := 0
	for _, d := range h.TokenSHA256 {
		match |= subtle.ConstantTimeCompare(got, []byte(d))
	}
	return match == 1
}

func parseHTTPInbound(p *Params) InboundSpec {
	return &HTTPInbound{
		MaxBody:     p.Bytes("max_body", 1, MaxBody, DefaultMaxBody),
		MaxItems:    p.Int("max_items", 1, MaxItems, DefaultMaxItems),
		TokenSHA256: tokenDigests(p, "token_sha256"),
	}
}

// tokenDigests reads a list of 1..MaxTokens SHA-256 digests, each 64
// lower-case hex digits and listed once, or a single digest as a list of
// one. It returns nil when the key is absent or has a problem. Its
// messages never quote a value: one that is not a digest may be the
// token itself.
func tokenDigests(p *Params, key string) []string {
	_, v := p.lookup(key)
	if v == nil {
		return nil
	}
	path := p.at(key)
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
		switch {
		case len(items) == 0:
			p.report.Addf(v, path, "must not be empty: list the SHA-256 digest of each token (shoal ingest-token prints one), or leave the key out")
			return nil
		case len(items) > MaxTokens:
			p.report.Addf(v, path, "has %d digests, at most %d: enough for the tokens in use and their replacements", len(items), MaxTokens)
			return nil
		}
	} else if v.Kind != yaml.ScalarNode {
		p.report.Addf(v, path, "must be a list of SHA-256 digests, such as [\"<64 hex digits>\"], got %s", yamlcheck.Describe(v))
		return nil
	}
	return eachItem(v, items, path, func(item *yaml.Node, at string, before []string) (string, bool) {
		if why := digestProblem(item); why != "" {
			p.report.Addf(item, at, "%s", why)
			return "", false
		}
		if first := slices.Index(before, item.Value); first >= 0 {
			p.report.Addf(item, at, "is listed twice (first as %s[%d])", key, first)
			return item.Value, false
		}
		return item.Value, true
	})
}

// digestProblem says what keeps n from being a SHA-256 digest in
// lower-case hex, or "" when nothing does. A digest of digits only reads
// as a number in YAML; it is taken as written.
func digestProblem(n *yaml.Node) string {
	s, why := yamlcheck.Str(n)
	if why != "" {
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
			return why
		}
		s = n.Value
	}
	if strings.HasPrefix(s, TokenPrefix) {
		return "is a token, not its digest: the pipeline is replicated and readable through the API, so it holds only digests (shoal ingest-token --hash prints a token's); if this file was applied, make a new token"
	}
	if n := utf8.RuneCountInString(s); n != sha256.Size*2 {
		return fmt.Sprintf("is %d characters, want %d: a SHA-256 digest in hex (shoal ingest-token --hash prints a token's)", n, sha256.Size*2)
	}
	for i, r := range []rune(s) {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'f':
		case r >= 'A' && r <= 'F':
			return fmt.Sprintf("has an upper-case digit at character %d: write the digest in lower case", i+1)
		default:
			return fmt.Sprintf("has a character that is no hex digit at character %d: a digest is hex digits, 0-9 and a-f", i+1)
		}
	}
	return ""
}

// KafkaInbound is a kafka connector: a consumer group reading one topic.
type KafkaInbound struct {
	Brokers  []string // host:port each (brokers, required)
	Topic    string   // topic, required
	Group    string   // the consumer group (group; default "shoal-" and the connector's name)
	MaxBatch int      // records enqueued per fetch (max_batch: 1..10000, default 100)
	Start    string   // where a new group starts: earliest (the default) or latest
	// InFlight bounds the enqueues each member has out at once
	// (max_in_flight: 1..MaxInFlight, default DefaultInFlight); records
	// of one routing key go one at a time whatever it says.
	InFlight int
}

// MaxInFlight bounds a kafka connector's max_in_flight: each enqueue out
// holds an entry of the dedup table of the replicaset it goes to.
const MaxInFlight = 256

// Type returns "kafka".
func (*KafkaInbound) Type() string { return "kafka" }

func parseKafkaInbound(p *Params) InboundSpec {
	k := &KafkaInbound{
		Brokers:  brokers(p),
		Topic:    topic(p),
		Group:    p.String("group", false),
		MaxBatch: p.Int("max_batch", 1, MaxBatch, DefaultMaxBatch),
		Start:    p.OneOf("start", []string{"earliest", "latest"}, "earliest"),
		InFlight: p.Int("max_in_flight", 1, MaxInFlight, DefaultInFlight),
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
