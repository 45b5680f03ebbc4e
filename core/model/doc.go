// Package model holds the data model an operator declares for a shoal
// cluster: the types of objects, their versions and the migrations
// between them, keys, indexes and relations. The business-logic layer
// checks every incoming object against it (Type.Validate) and brings
// objects of older versions to the latest one (Type.Upgrade) before
// handlers and storage see them.
//
// The package runs inside the simulator, so it is deterministic: no
// goroutines, clocks or global randomness, and every map is walked in
// sorted key order wherever the order could reach an error, a key or an
// encoding.
//
// # The model file
//
// A model is one YAML document (at most 1 MiB, no aliases, no second
// document) with one key, types, mapping type names to declarations:
//
//	types:
//	  Customer:
//	    key: [id]              # the primary key's fields, in order (1..16)
//	    affinity: id           # the field whose value picks the bucket; default the first key field
//	    history: 5             # previous versions of each object kept, 0..1000; default 0
//	    indexes:
//	      - {name: by_email, fields: [email], unique: true}
//	    relations:
//	      - {name: orders, kind: one-to-many, type: Order, fields: {id: customer_id}}
//	    versions:
//	      - version: 1
//	        fields:
//	          id: string
//	          name: string
//	          email: string?
//	      - version: 2
//	        migrate:
//	          - split: {field: name, into: [first_name, last_name], separator: " "}
//	        fields:
//	          id: string
//	          first_name: string
//	          last_name: string
//	          email: string?
//
// Type names start with an upper-case letter (letters, digits, _; at most
// 64); field, index and relation names are letters, digits and _, not
// starting with a digit. At most 256 types, 64 versions of a type, 256
// fields in a record, type expressions nested 16 deep.
//
// key: the fields must be in every version with one type, non-nullable,
// and scalars, enums or refs; no migration may rename, drop, convert,
// split or merge them. affinity: one of the key fields, so that an
// object's bucket follows from its key and a read by key goes straight to
// the replicaset that holds it; a single value (a ref to a type with a
// composite key will not do). Objects whose affinity values are equal
// share a bucket: an Order keyed (customer_id, id) with affinity
// customer_id lives with its Customer.
//
// indexes: name (unique within the type), fields (non-empty, fields of
// the latest version that are scalars, enums or refs; nullable ones are
// fine: an object with a null there is left out of the index), unique
// (default false).
//
// relations: name, kind (one-to-one, one-to-many, many-to-one), type (a
// declared type), fields (this type's field: that type's field, both in
// their type's latest version and holding the same type, a ref counting
// as its target's key type).
//
// versions: numbered 1, 2, 3… in order. Version 1 has no migrate;
// every later version has one, and Parse applies its steps to the shape
// of the version before and requires exactly the declared fields (names,
// types and nullability) to come out, naming the first difference per
// field. A migration with a func step is checked when it runs instead.
//
// # Field types
//
// A type expression is a scalar name, string, int, float, bool, bytes,
// timestamp or decimal, with a ? suffix when null is allowed ("string?";
// in a YAML flow mapping write it quoted, {type: "string?"}, since YAML
// reads ?} and ?, there as syntax). Or it is a mapping with exactly one
// of
//
//	type: string            # a scalar
//	enum: [basic, gold]     # one of these strings (non-empty, distinct)
//	array: <type>           # a list of values of the type
//	record: {zip: string}   # a nested object, fields in declaration order
//	map: <type>             # an object with any string keys
//	ref: Customer           # a reference: the value is Customer's key
//
// plus nullable: true, and on fields (of versions and records) default:
// a value valid for the type. A field is required unless it is nullable
// (absent reads as null) or has a default (absent reads as the default).
// A ref's value is the target's key field's value when its key has one
// field, or a record of its key fields.
//
// # Values
//
// An object is a JSON object (at most 1 MiB, nested at most 32 deep, no
// duplicate keys, nothing after it); fields it does not declare are
// errors. Normalized values (Object): string → string; int → int64 (a
// JSON integer within int64); float → float64 (any finite number);
// bool → bool; bytes → its standard base64 text (padding required);
// timestamp → RFC 3339 text converted to UTC and written with
// time.RFC3339Nano; decimal → a JSON number or a string such as
// "-12.50e1", written without exponent, leading zeros or trailing
// fractional zeros ("-125"; "-0" is "0"; at most 1000 digits either side
// of the point); enum → the string; array → []any; record and map →
// map[string]any; null → nil, and a record holds every declared field.
// Encode writes an Object as canonical JSON (keys sorted, floats always
// with a point or exponent) and Decode reads it back to the same Object.
//
// # Migration steps
//
// Each step is a mapping of one key. Paths may be dotted to reach fields
// of nested records (address.zip); a step on a record that is null in an
// object leaves that object alone.
//
//	add: {field: tier, type: <type>, default: basic}   # default required unless nullable
//	rename: {from: tier, to: level}                    # stays in its record
//	drop: newsletter
//	convert: {field: total, to: <type>, default: 0}    # default: see below
//	split: {field: name, into: [first, last], separator: " "}
//	merge: {fields: [street, city], into: address, separator: ", "}
//	func: NAME                                         # RegisterMigration(NAME, fn)
//
// convert: total conversions need no default: int→float, int→string,
// int→decimal, float→string, float→decimal, bool→string,
// decimal→string, enum→string, timestamp→string, an enum to one with
// all its values, T→T?, and arrays or maps of these element by element.
// Partial ones require a default, used for every value that does not
// convert, so that upgrading an object never fails: string→int, float,
// decimal, timestamp, enum, bool or bytes; float→int; decimal→int or
// float; an enum to one missing some of its values; T?→T (for null).
//
// split takes a string field; the last part keeps the rest of the text
// and missing parts are "". merge writes scalar fields as text (null as
// "") joined by the separator into a string field. func calls a Go
// function registered with RegisterMigration with a copy of the object;
// whatever the migration gives is checked against the next version, and
// a misfit is an error naming the function.
//
// # Keys
//
// EncodeKey encodes a tuple so that bytewise order is the tuple's order:
// each value is a tag byte and a body. Integers are 8 bytes big-endian
// with the sign bit flipped; floats their IEEE bits, all flipped for
// negatives and the sign bit flipped otherwise; booleans the tag alone;
// timestamps by time (seconds as integers, then 4 bytes of
// nanoseconds); strings, bytes and decimals their bytes with 0x00 written
// 0x00 0xFF and ended by 0x00 0x01, so that no encoding is a prefix of
// another's and "a" sorts before "a\x00" and "ab". Decimals are encoded
// by their canonical text, so their order is that of strings, not
// numeric. A composite ref is encoded as its key fields in place.
//
// PrimaryKey is EncodeKey of the key fields; ParseKey reads the form a
// user writes (a single key's value as text, "c1" or "42"; a composite
// key's values joined by commas, the last taking the rest) and KeyString
// writes it back. AffinityKey is the affinity value in that text form,
// and RouteKey the same taken from an encoded key. SampleKey and SetKey
// give workloads a bounded set of keys.
package model
