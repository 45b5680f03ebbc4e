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

// PipelineDC1 and PipelineDC2 are pipeline-dc1.yaml and
// pipeline-dc2.yaml: Pipeline for two clusters, dc1 and dc2, that
// replicate every change to each other (destinations to-dc2 and to-dc1
// of type shoal, inbound connector replication of type shoal), with
// their webhook destinations named for the cluster (dc1-billing, ...).
//
//go:embed pipeline-dc1.yaml
var PipelineDC1 []byte

//go:embed pipeline-dc2.yaml
var PipelineDC2 []byte

// PipelineDC2Receive is pipeline-dc2-receive.yaml: PipelineDC2 without
// its destination to-dc1, for one-way replication from dc1.
//
//go:embed pipeline-dc2-receive.yaml
var PipelineDC2Receive []byte

// Dataset is dataset.json, a few objects of every type of Model for
// `shoal serve --dev` to start with: a JSON array of {"type", "version"
// (absent: the type's latest), "object"}. Two of its customers are
// written at version 1 and stored upgraded.
//
//go:embed dataset.json
var Dataset []byte
