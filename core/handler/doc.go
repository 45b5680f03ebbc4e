// Package handler holds the handler chains of the inbound pipeline: what
// becomes of a message a connector handed in once routing (core/route)
// has given it its routing keys. Each routing key has a chain, an
// ordered list of handlers; the messages that come out of a chain are
// objects to store (a type, a model version and JSON fields) and
// messages for the outbound queue. Parse reads a pipeline file (routing
// rules, chains and connectors); Pipeline.Run takes one inbound message
// through it.
//
// The engine runs a pipeline on the replicaset's leader, validates and
// upgrades the objects against the data model (core/model), and commits
// them with the outbound messages in one Raft entry. Run is therefore
// pure: no goroutines, no clock but the one it is given, no map
// iteration whose order reaches a result. The same pipeline, input,
// clock and stored objects give the same Outcome, byte for byte.
//
// Besides the built-in handlers below, Go code may add its own with
// Register (from an init function, as database/sql drivers do); a chain
// names them like any other.
//
// # The pipeline file
//
// One YAML document (at most 1 MiB, no aliases, no second document):
//
//	routes:                    # routing rules: core/route's format
//	  default: orders
//	  rules:
//	    - name: big_orders
//	      when: {field: {$.amount: {gt: 1000}}}
//	      keys: [orders, review]
//	chains:                    # a chain for each routing key
//	  orders:
//	    - set-type: {type: Order, version: 1}
//	    - rename: {cust: customer_id}
//	    - enrich: {type: Customer, key: {id: $.customer_id}, into: customer, fields: [tier]}
//	    - outbound: billing
//	    - drop: customer
//	  review:
//	    - filter: {when: {field: {$.amount: {gt: 5000}}}}
//	    - outbound: {destination: review-desk}
//	connectors:                # optional: core/connector's format
//	  inbound:
//	    web: {type: http}
//	  outbound:
//	    billing: {type: webhook, url: "https://billing.example/orders"}
//	    review-desk: {type: kafka, brokers: ["kafka-1:9092"], topic: review}
//
// Top-level keys, routes and chains required:
//
//   - routes: a routing rules mapping, exactly as a core/route rules file
//     holds it (default, rules; see that package's doc). Its problems
//     are reported under routes (routes.rules[0].keys).
//   - chains: a mapping of routing keys to chains, at most MaxChains.
//     Every key the routes can give (each rule's keys, and the default)
//     must have a chain; the error names the rule and the line. A chain
//     no route gives is allowed (another version of the routes may give
//     it). A routing key is letters, digits, _ and - (at most 64),
//     starting with a letter or _.
//   - connectors: the inbound connectors and outbound destinations by
//     name, each of a registered type with its keys (see core/connector's
//     doc); its problems are reported under connectors
//     (connectors.outbound.billing.url), and Pipeline.Connectors holds
//     it. With a connectors section, every destination an outbound step
//     names must be declared under connectors.outbound; the error names
//     the step and its line. Without one, any destination goes, and its
//     messages wait in their outbound queue. A connector type this
//     binary lacks is an error unless Options.AllowUnknown is set.
//
// A chain is a list of 1..MaxSteps steps. A step is a mapping of one
// handler name to its parameters:
//
//	chains:
//	  orders:
//	    - set-type: Order
//	    - my-handler: {any: params}
//	    - my-handler          # a registered handler may go without parameters
//
// A built-in handler's parameters are checked when the file is parsed;
// a registered handler gets its step's value as JSON-like data
// (Context.Params), checked by the function given to RegisterChecked if
// any. A step naming a handler this binary lacks is an error, unless
// Options.AllowUnknown is set (another instance's build may have it);
// running such a step fails the message with a reason saying so.
//
// # Fields and sources
//
// A handler sees the message's fields: the payload's JSON object,
// numbers as json.Number (as written). Handlers name fields two ways:
//
//   - A field (rename, drop, map's targets, split, enrich's into) is
//     names joined by dots: customer.id is the field id of the object in
//     the field customer. A name is letters, digits, _ and -; a field has
//     at most MaxFieldSteps names. Setting a field creates the objects on
//     its way; setting it through a value that is no object (customer is
//     a string) fails the message.
//   - A path (map's and enrich's sources) is a core/route path: $.a.b,
//     $.items[0].sku, $["odd name"]; $ is the message's current fields.
//
// A source, where map and enrich take a value from, is one of:
//
//	$.customer.id                       the value at a path (a copy)
//	$                                   all the fields (a copy)
//	{path: $.email, default: null}      the value at a path, or the default when it is missing
//	{header: X-Source}                  a header's value (a string), by name in any case
//	{header: X-Source, default: web}    ... or the default when the message lacks it
//	{const: {a: [1, 2]}}                a constant: any JSON value, null included
//	{message: id}                       the inbound message's id, connector, or the routing key (key)
//
// A path or a header that is missing, with no default, fails the message.
//
// # Built-in handlers
//
// set-type: a type name, or {type: T, version: V}. Sets the type the
// message is stored as, and the model version its fields are at (1..64;
// left out, or with the short form, 0: the type's latest). A type name
// is letters, digits and _, starting with an upper-case letter. Whether
// the model has the type, and whether the fields fit it, the engine
// checks when it stores the object.
//
// rename: a mapping of fields to their new names, applied in file order.
// A field that is missing is left alone. Renaming onto a field that
// exists fails the message (drop it first); a field may not be renamed
// into itself (a to a.b). The objects a field was in stay, even when
// emptied.
//
// drop: a field, or a list of 1..MaxEntries fields, to delete. A field
// that is missing is left alone.
//
// map: a mapping of fields to sources (1..MaxEntries entries), applied
// in file order (an entry sees what the ones before it set). Each field
// is set to a copy of its source's value, replacing what was there.
//
// filter: {when: CONDITION}, CONDITION a core/route condition mapping
// (connector, header, field, any, not). The message goes on when it
// holds, and is dropped (no failure) when it does not. Field conditions
// see the message's current fields, not the payload as it came in.
//
// split: {field: F, keep: K}. Replaces the message by one message per
// element of the array at F, in order: an empty array leaves none. Each
// element must be a JSON object; its fields become the new message's
// fields, and the message's type, version and headers carry over. keep
// (optional) copies fields of the message into every element: a list of
// fields (each kept under its own name), or a mapping of element fields
// to message fields ({order_id: id}). A kept field that is missing, an
// element that already has a kept field, F missing or not an array, and
// F overlapping a kept field (checked when parsing) fail the message.
//
// enrich: {type: T, key: KEY, into: F, fields: [NAMES], missing: M}.
// Reads the stored object of type T whose key fields are KEY, a mapping
// of key field names to sources ({id: $.customer_id}), and sets F to it,
// or to the object of its fields listed in fields (optional; a listed
// field the object lacks is left out). missing says what happens when
// there is no such object: fail (the default) fails the message
// ("Customer {"id":"c9"} not found"), skip leaves the message as it is,
// null (YAML's null, or "null") sets F to null. A lookup counts against
// MaxLookups.
//
// outbound: a destination, or {destination: D, key: PATH}. Sends a copy
// of the message's fields (as JSON) to D's outbound queue, and passes the
// message on unchanged. The destination receives messages of one key in
// the order they were sent, and messages of different keys in parallel;
// the key is the routing key whose chain sent it, unless key names a
// field of the message (a string or a number: $.customer.id). A destination is letters, digits, _ and - (at
// most 64), starting with a letter or _; in a file with a connectors
// section, one of its outbound destinations.
//
// # Running a message
//
// Run routes the message with Routes (core/route) on its connector,
// headers and payload; a message that gets no routing key fails with
// routing's reason. The payload must be one JSON object of at most
// route.MaxPayloadSize bytes; a key named twice keeps its last value.
// Each routing key's chain then runs, in the order of the keys, on a
// fresh copy of the payload's fields (chains do not see each other's
// changes), with the message's headers under their canonical names
// (X-Source; of two names differing only in case, the one sorting first
// wins).
//
// A chain runs step by step: every message goes through a step, then
// every message out of it through the next. At the end of a chain,
// every message left must have a type: it becomes an Object, with the
// chain's routing key and its fields as JSON (keys sorted, no spaces,
// numbers as received). A message without a type that an outbound step
// sent (or the message it was split from) is not stored; one that was
// never sent fails the message ("reached the end of chain K without a
// type: add set-type, or filter it out").
//
// A message fails whole: when any step of any chain returns an error, or
// a limit is passed, Run returns a Failure (the routing key, the step's
// index from 0, its handler and the reason, such as "chain orders, step
// 3 (enrich): Customer {"id":"c9"} not found") and no objects or
// outbound messages at all; the engine sends the message to the repair
// queue. A registered handler that panics fails the message too
// ("handler X panicked: ...").
//
// # Limits
//
// A file has at most MaxChains chains of at most MaxSteps steps, and a
// step's mapping or list at most MaxEntries entries. One Run makes at
// most MaxMessages messages (one per chain it starts, plus each a step
// returns beyond the one it was given: a split into n adds n-1), makes
// at most MaxLookups lookups, copies at most MaxCopyBytes of fields in
// the built-in handlers and produces at most MaxOutputBytes of objects
// and outbound messages. Passing one fails the message with a reason
// naming the limit.
package handler
