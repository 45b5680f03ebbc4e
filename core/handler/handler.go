package handler

import (
	"fmt"
	"github.com/shoaldb/shoal/core/jsonvalue"
	"maps"
	"regexp"
	"slices"
	"time"
)

// Limits on a pipeline file and on the work of running one message.
const (
	MaxChains      = 256     // chains in a file
	MaxSteps       = 32      // steps in one chain
	MaxMessages    = 1024    // messages one Run creates: one per chain it starts, plus each a handler returns beyond the one it was given
	MaxLookups     = 64      // Context.Lookup calls (enrich steps included) for one inbound message
	MaxOutputBytes = 8 << 20 // bytes of Objects' and Outbound messages' Values of one Run; reasons say 8 MiB
	MaxNameLen     = 64      // bytes of a handler name, a type name or a destination
	MaxFieldSteps  = 16      // names in a dotted field path (a.b.c is 3)
	MaxOrderKey    = 256     // bytes of an outbound message's key (kv.MaxTypeLen bounds what the log takes)
)

// Message is one message going down a chain.
type Message struct {
	ID        string            // the inbound message's id
	Connector string            // the connector it came through
	Key       string            // the routing key whose chain is running
	Headers   map[string]string // canonical header names (X-Source, Content-Type)
	Type      string            // the object type to store it as; "" until a handler sets it
	Version   int               // the model version Fields are at; 0 means the type's latest
	Fields    map[string]any    // the JSON object, numbers as json.Number (decode with UseNumber)

	// sent is true once an outbound step sent the message (or the message
	// it was split from): such a message may end its chain without a type.
	sent bool
}

// Lookup reads stored objects for enrich (and custom handlers): the
// object of type typ whose key fields are key; found false when there is
// none. The engine implements it.
type Lookup interface {
	Object(typ string, key map[string]any) (fields map[string]any, found bool, err error)
}

// Context is what a handler may consult while it handles one message:
// the engine's clock, its step's parameters and the stored objects.
type Context struct {
	run    *run
	params any
}

// Now returns the engine's clock as Run was given it. A handler never
// reads the machine's clock: the engine runs on the replicaset's leader
// and stores what it computed, so the result must follow from the
// inputs alone.
func (c *Context) Now() time.Time { return c.run.now }

// Params returns the step's YAML value as JSON-like data: map[string]any,
// []any, string, json.Number, bool or nil. It is a fresh copy on every
// call, the handler's to change.
func (c *Context) Params() any { return jsonvalue.Copy(c.params) }

// Lookup reads a stored object (see the Lookup interface). The object is
// a fresh copy with numbers as json.Number. Every call counts against
// MaxLookups for the inbound message; past it Lookup returns an error,
// and the message fails whatever the handler does with the error.
func (c *Context) Lookup(typ string, key map[string]any) (map[string]any, bool, error) {
	return c.run.lookup(typ, key)
}

// Func is a handler: it takes a message and returns what goes on down
// the chain: nothing (filtered out), the message (changed or not), or
// several (split). An error sends the whole inbound message to the repair
// queue with the error as the reason.
//
// A Func may change the message it is given and return it. The messages
// it returns are copied through JSON before the next step sees them (so
// their Fields hold JSON-like data, numbers as json.Number, and share
// nothing); ID, Connector and Key are restored to the chain's, and a
// value JSON cannot encode fails the message. A Func must be a pure
// function of the message, its Context and its parameters: no clock, no
// randomness, no I/O, no state kept between calls.
type Func func(c *Context, m *Message) ([]*Message, error)

// registered is one handler a chain may name.
type registered struct {
	check   func(params any) error // nil: any parameters
	f       Func
	builtin bool
}

// registry holds the handlers chains may name: the built-ins, and those
// registered from init functions, before any pipeline is parsed. It never
// changes afterwards.
var registry = map[string]*registered{}

var handlerNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

const handlerNameRule = "a handler name is letters, digits, - and _ (at most 64), starting with a letter"

// Register makes a Go handler available to chains under name. Call it
// from an init function (in the manner of database/sql drivers). It
// panics if name is taken (built-ins included) or not a valid name
// (letters, digits, - and _, starting with a letter), or f is nil.
func Register(name string, f Func) { register(name, nil, f) }

// RegisterChecked is Register for a handler that checks its parameters
// when a pipeline is parsed: check gets the step's value as Params would
// return it, and its error is reported at the step's line. A nil check
// accepts anything.
func RegisterChecked(name string, check func(params any) error, f Func) {
	register(name, check, f)
}

func register(name string, check func(params any) error, f Func) {
	if len(name) > MaxNameLen || !handlerNamePattern.MatchString(name) {
		panic(fmt.Sprintf("handler: Register: %q is not valid: %s", name, handlerNameRule))
	}
	if f == nil {
		panic(fmt.Sprintf("handler: Register: %q needs a function", name))
	}
	if r := registry[name]; r != nil {
		if r.builtin {
			panic(fmt.Sprintf("handler: Register: %q is a built-in handler", name))
		}
		panic(fmt.Sprintf("handler: Register: %q is already registered", name))
	}
	registry[name] = &registered{check: check, f: f}
}

// Registered returns the names chains may use, built-ins included,
// sorted.
func Registered() []string { return slices.Sorted(maps.Keys(registry)) }
