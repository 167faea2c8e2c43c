//! The integration suite in one test binary: one link instead of one per file, and every
//! test of every file scheduled together (cargo runs test binaries one after another).

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

mod admin_backup;
mod buckets;
mod cli;
mod conformance_s3tests;
mod docs_examples;
mod evidence_anchor;
mod evidence_audit;
mod evidence_events;
mod evidence_lifecycle;
mod evidence_report;
mod evidence_support;
mod fault_audit;
mod fault_connections;
mod fault_disk_full;
mod fault_files_metrics;
mod identity_accounts;
mod identity_iam;
mod identity_policy;
mod inventory;
mod logs;
mod object_lock_bucket;
mod object_lock_delete;
mod object_lock_durability;
mod object_lock_legal_hold;
mod object_lock_read;
mod object_lock_retention;
mod object_lock_support;
mod object_lock_writes;
mod replication;
mod replication_s3;
mod root_credentials;
mod s3_auth;
mod s3_bad_input;
mod s3_checksums;
mod s3_chunked;
mod s3_compat_modes;
mod s3_copy;
mod s3_crash;
mod s3_divergences;
mod s3_limits;
mod s3_listing;
mod s3_multipart;
mod s3_objects;
mod s3_server;
mod s3_streaming;
mod s3_strict_xml;
mod s3_strict_xml_property;
mod s3_tagging;
mod s3_tagging_lifecycle;
mod scaleout_evidence;
mod scaleout_gateways;
mod tamper;
mod tls_https;
