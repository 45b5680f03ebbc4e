// Package graphql serves a cluster's data model as GraphQL: SDL writes
// the schema of the model's latest versions, and Execute parses and
// validates a query with github.com/vektah/gqlparser/v2, measures it,
// and runs it against storage behind the Data interface, consulting
// Rights per type and field. It holds no HTTP: core/live hands it
// requests and writes its responses. It runs inside the simulator, so it
// starts no goroutine, reads no clock, and walks every map in sorted
// order where the order could reach a response.
//
// # Schema
//
// NewSchema builds a Schema once per model revision (SDL, loaded and
// checked by gqlparser); the schema changes when the model does. The SDL
// lists definitions sorted by name and fields sorted by name (a lookup's
// key arguments stay in key order; enum values in declaration order).
// For each type T of the model:
//
//	type T                  its latest version's fields, plus
//	                        _version: Int! (the model version of the shape),
//	                        _revision: Int64! (the log index of its last write),
//	                        _history: [T_Version!]! (kept previous versions,
//	                        oldest first: version, revision, object), and a
//	                        field per relation: one-to-many → TConnection
//	                        (where, orderBy, first, after); many-to-one and
//	                        one-to-one → T or null
//	TConnection, TEdge      edges { cursor node } and pageInfo { hasNextPage endCursor }
//	TInput                  every field; nullable and defaulted ones optional
//	TPatch                  every field but the key's, all optional (a JSON
//	                        merge patch: left out keeps, null clears, records
//	                        merge field by field through T_fieldPatch, arrays
//	                        are replaced whole)
//	TWhere                  a FILTER per filterable field, and: [TWhere!], or: [TWhere!]
//	TOrder, TSort           by: _key or an index's name (default _key),
//	                        direction: ASC or DESC (default ASC)
//	Query.T(key...)         by primary key: T or null
//	Query.Ts(where, orderBy, first, after)   a connection (plural: Customers,
//	                        Addresses, Categories)
//	Mutation.insertT(object: TInput!)        fails when the key exists
//	Mutation.putT(object: TInput!, ifRevision: Int64)   stores the whole
//	                        object, replacing any under its key (REST's PUT)
//	Mutation.updateT(key..., patch: TPatch!, ifRevision: Int64)
//	Mutation.deleteT(key..., ifRevision: Int64)   the deleted object, or null
//	                        when there was none
//
// Field types: string → String, int → Int64 (a custom scalar: GraphQL's
// Int is 32 bits; output as a JSON number, input as a number or a string
// of digits), float → Float, bool → Boolean, decimal → Decimal (canonical
// text), timestamp → Timestamp (RFC 3339, UTC), bytes → Bytes (standard
// base64), enum → an enum T_field (String when a value is not a GraphQL
// name), array → a list, record → an object type T_field (input
// T_fieldInput, patch T_fieldPatch, where T_fieldWhere), map → JSON, ref →
// its target's key type, or JSON for a composite key. A nullable field is
// nullable; the others are non-null. Nested names join the path with _
// (Order_shipping_address_city). A model whose names collide with these
// (a type CustomerWhere beside Customer, a field named like a relation)
// fails NewSchema with gqlparser's error naming the duplicate.
//
// Filters take the operators of core/api (whose parser reads the values,
// so GraphQL and REST filter alike): StringFilter eq ne gt ge lt le in
// prefix; Int64Filter, FloatFilter, DecimalFilter and TimestampFilter the
// same without prefix; BooleanFilter, BytesFilter, enum filters and
// RefFilter (the key as text) eq ne in. A null or absent field meets ne
// and nothing else. Records filter through their fields; arrays, maps and
// refs to composite keys take no filter.
//
// # Execution
//
// Errors come in the GraphQL response format: parse and validation
// errors (with locations) and refusals before execution have no data; a
// field's error is at its path, makes the field null and, when the field
// is non-null, the nearest nullable field above it (as the spec says).
// A field's error carries extensions.code when it is known that nothing
// was done (forbidden, not_found, conflict, precondition_failed, or a
// Data error's CodedError: core/live gives the REST codes, such as
// unavailable and busy); an error without a code may come after a write
// took effect (outcome_unknown says so outright).
// Mutations run one after another, at most 100 in one request.
// __typename works everywhere; the query field _sdl gives the SDL to a
// caller whose Rights allow CanReadSchema.
//
// A listing in key order asks Data.List for the where's conjunction (its
// own filters and those of its and items, at most api.MaxFilters) and
// evaluates the whole where, ors included, on what comes back; it asks
// for the page's missing objects (at least 100 while an or is left to
// it), in at most 16 List calls. A page whose calls run out is answered
// with what it found, hasNextPage and an endCursor where the scan
// stopped: a page may be short, even empty, and still have a next, as in
// the REST listing. When the filters storage gets hold an eq on every
// field of one of the type's indexes (a one-to-many relation's own
// filters, customer_id = the customer's id for Customer.orders, or a
// where's eq on top-level fields, outside any or), a listing in key
// order, either way, reads only that index's entries of those values,
// in key order, instead of every object of the type (api.Plan: the
// index with the most fields wins); it lists the same objects in the
// same order, each still judged by the where, and costs what any listing
// in key order does. An ne, in or prefix, or eqs on part of an index's
// fields, read the type. Ordering by an index, or by _key DESC, is done by
// storage in the same way, so any number of matches can be paged
// through: by the index's values (as the index stores them), then by
// key; objects without an index entry (a null in an index field) come
// last (first for DESC). The order is that of the entries storage holds:
// an object written before a model revision changed the index, and not
// written since, stands where the index as it was put it (kv.ListOrder);
// and the pages that reach the objects without an entry read past all
// the others, so they may be short or empty. Paging by key lists every
// object that matched throughout once; paging by an index, an object
// whose indexed value changes between two pages moves in the order, and
// is listed twice when it moves from behind the cursor to ahead of it,
// or never when it moves the other way. A cursor is opaque, bound to
// the type, where and orderBy and to the index a listing reads through
// (a relation's own filters are not bound),
// and stays valid when its object is deleted; one whose position was
// damaged fails the field, naming after. A many-to-one or
// one-to-one relation on fields other than its target's key is the
// first match, paged for through short pages in at most 16 List calls.
// An update reads, merges, validates and writes on condition of the
// revision it read (again, up to five times, when another write comes
// between); with ifRevision the object must have that revision, else it
// fails at once.
//
// # Cost
//
// Before validation, a document of more than 2000 selections (those of
// its fragments counted once each) is refused: validation compares them
// pairwise. Before it runs, a query is measured over its fragments
// expanded: every field is 1 deep more than its parent (a root field is
// 1) and refused beyond Limits.MaxDepth; every field costs 1, and more
// for what it may read or write out (a listing whose where storage
// cannot evaluate whole, an or or more filters than a listing takes, or
// a listing ordered by an index, whose last pages read the whole type
// for the objects without an entry, 16×100 more, once, but not one in
// key order read through an index's entries of one key; _sdl its size
// in KiB),
// times the number of times it will be resolved, which is the product
// of the first of every connection above it (default DefaultFirst, at
// most MaxFirst; first: 0 costs its children nothing) and the history
// size of every _history above it. A query over Limits.MaxCost is
// refused with an error at the field that crossed it, before any Data
// call. A where holds at most 256 filters and where objects (empty ones
// count), and an and or or list at most 64 items.
//
// At run time every Data call counts against Limits.MaxCalls (a field
// error), so that retried updates, or pages scanning for an or, stay
// bounded too. Three bounds fail the whole request, with data null and
// one error at the field where it stopped, and resolve no field after:
// the objects its Data calls answer, over Limits.MaxObjectsRead; its
// data, counted as each value is completed, over
// Limits.MaxResponseBytes; and Request.Context done (checked before
// validation, before every field and before every Data call).
//
// # Services
//
// A Service is a field of Query (or, with Mutation set, of Mutation)
// served by a Go function rather than by the model; core/service
// registers them by name from init functions, and NewSchema(m,
// services...) adds them beside the generated fields, in the SDL with
// their Doc. A service declares its arguments in input types of the
// schema (scalars, enums, TInput, TWhere, lists) with optional defaults
// as GraphQL literals, its result as a scalar, an enum or a type of the
// model (or a list of them), and the types it Reads and Writes.
// CheckService holds the rules of a declaration; a service that a model
// cannot serve (its name is a generated field's, insertCustomer; a type
// it names is not in the schema, or not of the right kind; a default
// that does not suit its argument) is left out of that model's schema,
// and Schema.ServiceErrors says why.
//
// gqlparser validates the arguments as any field's, and the executor
// hands them to the function as Go values (ServiceArg lists them: Int64
// as int64, Decimal as canonical text, Timestamp as time.Time, ...),
// after checking the model's scalars gqlparser does not know; an
// argument with a default that is given as null takes its default. The
// caller needs whole-type rights: Rights.CanReadWhole of every type of
// Reads (the function sees whole objects, so a grant of some of a
// type's fields does not do) and Rights.CanWrite of every type of
// Writes, else the field fails, coded forbidden, before the function
// runs. The function reaches storage through its ServiceCall: Get, List
// (Filters writes core/api filters) of the types it reads, Put and
// Delete on conditions of those it writes; every call counts against
// Limits.MaxCalls, the objects read against Limits.MaxObjectsRead, and
// a call over a limit fails the field whatever the function does with
// its error: coded refused, or outcome_unknown once the function has
// sent a write. Its error is the field's error, with the code of a
// CodedError in its chain (a failed condition of a write is
// precondition_failed, a key, filter or page out of bounds bad_request,
// Data's failures keep their codes); a panic is a ServicePanic, whose
// message says only that the service failed (a Data that is a
// PanicLogger is told the rest). A result of a model type, given as
// Stored, is completed as any object of that type (sub-selections,
// relations and Rights apply), a scalar is checked against its type. A
// service field costs 1 + ServiceCost (100), plus its selection.
//
// CallService calls a service outside a query, as REST does: its
// arguments, decoded from JSON, are coerced as a query's variables; the
// same rights and limits apply (Limits.MaxResponseBytes to the result's
// JSON), the result comes back uncompleted (objects as Stored, with the
// fields the caller may not read left out), and the error says why in
// kinds (ErrArgs, ErrForbidden, ErrLimit, ...) and codes (StatusCode
// and CodeStatus pair them with HTTP statuses) its caller can answer.
//
// # Not supported yet
//
// Introspection (__schema, __type: use _sdl), subscriptions, filters on
// null (is null), on arrays, maps and composite refs, last and before
// (backward pagination), a total count, rights on the fields of records
// (Rights sees a type's top-level fields only), and a model's older
// versions (the schema shows the latest one only).
package graphql
