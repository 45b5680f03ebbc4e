// Package connector holds what the engine knows of the systems data comes
// from and goes to: the connectors section of the pipeline file (inbound
// connectors and outbound destinations by name, each of a registered
// type), the built-in types (http and kafka in, webhook and kafka out),
// the registry third-party types join from an init function, and the
// messages the engine exchanges with an endpoint.
//
// An endpoint is an external system the engine reaches through env.Send,
// as it reaches its peers: its NodeID is Endpoint(destination). The
// simulator hosts simulated endpoints with their own faults; production
// (core/live) hands the messages to I/O adapters (net/http, kafka-go).
// Everything here is deterministic: turning a queued message into what an
// endpoint is sent (Render) happens in the engine, so the simulator checks
// exactly what production sends.
//
// # The connectors section
//
// A pipeline file (core/handler) may have a connectors section:
//
//	connectors:
//	  inbound:                       # connectors, by name
//	    web: {type: http, max_body: 8MiB}
//	    orders: {type: kafka, brokers: [localhost:9092], topic: orders}
//	  outbound:                      # destinations, by name
//	    audit:
//	      type: webhook
//	      url: https://audit.example/hook
//	      body: '{"key": {{json .Key}}, "order": {{.Value}}}'
//	      max_attempts: 20
//
// inbound and outbound are each a mapping of at most MaxConnectors
// names (letters, digits, _ and -, at most MaxNameLen, starting with a
// letter or _: what an outbound step may name) to entries. An entry is a
// mapping with a type, a registered type of its direction, and that
// type's keys; a key the type does not read is an error. Every outbound
// destination also takes the delivery keys (Delivery, DefaultDelivery):
//
//	max_attempts  1..1000          attempts before a message goes to the repair queue
//	backoff_min   1ms..1h          the wait after the first failure
//	backoff_max   backoff_min..24h the longest wait
//	timeout       1ms..10m         a push not answered within it failed
//	batch         1..1024          messages in one push
//	in_flight     1..64            pushes outstanding at once
//
// Sizes are an integer of bytes or one with a unit, B, KiB, MiB or GiB
// (512KiB); durations are Go's (300ms, 1.5s, 2h).
//
// # Built-in types
//
// Inbound http (HTTPInbound): max_body, the largest request body (1..64MiB,
// default 8MiB); max_items, the NDJSON lines of one request (1..100000,
// default 1000); token_sha256, the SHA-256 digests (64 lower-case hex
// digits each, 1 to 16: a new token is added before the old one is
// removed) of the bearer tokens a request must carry one of
// (Authorization: Bearer TOKEN); without it, no token is asked for. The
// file holds only digests: it is replicated and readable through the API.
//
// Inbound kafka (KafkaInbound): brokers (required; host:port, a list or
// one), topic (required), group (default "shoal-" and the connector's
// name), max_batch, the records enqueued per fetch (1..10000, default
// 100), start, where a new group starts: earliest (the default) or
// latest.
//
// Outbound webhook (Webhook): url (required; absolute, http or https),
// method (POST, the default, PUT or PATCH), headers (a mapping of names
// to values), body (a Template; default {{.Value}}, the value itself).
// Each message is a request with the configured headers, Content-Type:
// application/json unless they set it, and Idempotency-Key: the
// message's idempotency key.
//
// Outbound kafka (KafkaOutbound): brokers and topic as above; key (a
// Template; default {{.Key}}, the routing key), value (default
// {{.Value}}), headers. Each record carries Idempotency-Key too.
//
// A header name is an RFC 9110 token; Idempotency-Key is the engine's.
//
// # Other types
//
// A Go program adds its own types with RegisterInbound and
// RegisterOutbound from an init function; their parse functions read an
// entry's keys through Params, which reports problems in the words of
// the built-ins. With Options.AllowUnknown a type this binary lacks is
// accepted (another instance's build may have it), its Spec nil.
package connector

import (
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// Limits of the connectors section and of rendering.
const (
	MaxConnectors = 64       // inbound connectors, and outbound destinations, each
	MaxNameLen    = 64       // bytes of a connector's or destination's name
	MaxTemplate   = 16 << 10 // bytes of a template
	MaxRendered   = 4 << 20  // bytes of one rendered request's body; reasons say 4 MiB
)

// EndpointPrefix starts the NodeID of every endpoint.
const EndpointPrefix = "ext/"

// Endpoint is the NodeID the engine sends a destination's pushes to.
func Endpoint(destination string) env.NodeID { return env.NodeID(EndpointPrefix + destination) }

// IsEndpoint reports whether id names an endpoint, and which destination.
func IsEndpoint(id env.NodeID) (string, bool) {
	return strings.CutPrefix(string(id), EndpointPrefix)
}

// Header is one header of a rendered request.
type Header struct{ Name, Value string }

// Config is the connectors section of a pipeline file.
type Config struct {
	Inbound  []*Inbound  // sorted by name
	Outbound []*Outbound // sorted by name
}

// Connector returns the inbound connector named name, or nil.
func (c *Config) Connector(name string) *Inbound {
	if c == nil {
		return nil
	}
	for _, in := range c.Inbound {
		if in.Name == name {
			return in
		}
	}
	return nil
}

// Destination returns the outbound destination named name, or nil.
func (c *Config) Destination(name string) *Outbound {
	if c == nil {
		return nil
	}
	for _, out := range c.Outbound {
		if out.Name == name {
			return out
		}
	}
	return nil
}

// Inbound is one inbound connector.
type Inbound struct {
	Name string
	Type string
	Line int // where it is declared
	// Spec is the type's reading of its parameters; nil for a type this
	// binary lacks (Options.AllowUnknown).
	Spec InboundSpec
}

// Outbound is one outbound destination.
type Outbound struct {
	Name string
	Type string
	Line int
	// Delivery is how the engine delivers and retries: the same keys for
	// every type.
	Delivery Delivery
	// Spec is nil for a type this binary lacks (Options.AllowUnknown): its
	// messages are not sent, and go to the repair queue after
	// Delivery.MaxAttempts.
	Spec OutboundSpec
}

// Delivery is a destination's delivery policy: the keys max_attempts,
// backoff_min, backoff_max, timeout, batch and in_flight of its entry.
type Delivery struct {
	MaxAttempts int           // attempts before a message goes to the repair queue
	BackoffMin  time.Duration // the wait after a first failure; it doubles per attempt up to BackoffMax, with jitter
	BackoffMax  time.Duration
	Timeout     time.Duration // a push not answered within it failed
	Batch       int           // messages one push carries
	InFlight    int           // pushes outstanding at once
}

// DefaultDelivery is the policy of a destination that sets none.
var DefaultDelivery = Delivery{
	MaxAttempts: 20, BackoffMin: 200 * time.Millisecond, BackoffMax: 10 * time.Second,
	Timeout: 10 * time.Second, Batch: 64, InFlight: 4,
}

// InboundSpec is an inbound connector type's reading of its parameters.
type InboundSpec interface {
	Type() string
}

// OutboundSpec is an outbound destination type's reading of its
// parameters.
type OutboundSpec interface {
	Type() string
	// Render turns a message of the outbound queue into the request its
	// endpoint is sent. It must be deterministic, and bound its output
	// (MaxRendered); an error sends the message to the repair queue.
	Render(m *Message) (Request, error)
}

// Message is a message of the outbound queue, as Render sees it.
type Message struct {
	Destination string
	Seq         uint64 // its position in its replicaset's outbound queue
	// IdempotencyKey is the same for every attempt at this message, across
	// retries and leader changes: a receiver deduplicates by it.
	IdempotencyKey string
	MessageID      string // the inbound message whose chain sent it
	Key            string // the routing key of that chain
	Value          []byte // the JSON object
}

// Request is what an endpoint is sent for one message: an HTTP request's
// headers and body, or a Kafka record's key, headers and value.
type Request struct {
	Key     []byte
	Headers []Header
	Body    []byte
}
