// Package examples holds the example model files, embedded, for the
// simulator's workloads and for tests.
package examples

import _ "embed"

// Model is model.yaml: four types (Customer, Product, Order, Shipment)
// covering every field type, with a two-version Customer.
//
//go:embed model.yaml
var Model []byte

// ModelNext is model-next.yaml, a successor of Model that adds Customer
// version 3 and Order version 2.
//
//go:embed model-next.yaml
var ModelNext []byte

// Pipeline is pipeline.yaml, an inbound pipeline (core/handler's format)
// that turns what four connectors hand in into objects of Model and
// messages for three destinations.
//
//go:embed pipeline.yaml
var Pipeline []byte

// PipelineOutbound is pipeline-outbound.yaml: Pipeline with a connectors
// section that declares its outbound destinations as webhooks, and that
// also sends every CRM customer to one of them, crm-sync.
//
//go:embed pipeline-outbound.yaml
var PipelineOutbound []byte

// PipelineKafka is pipeline-kafka.yaml: Pipeline with a connectors
// section that makes crm a kafka connector (topic crm-customers) and
// declares the destinations it sends to as webhooks.
//
//go:embed pipeline-kafka.yaml
var PipelineKafka []byte
