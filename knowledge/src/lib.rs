//! warroom-knowledge: runbook and incident-history retrieval with citations.
//!
//! Empty so far: ingestion, embedding, the Qdrant index and ranking arrive with the
//! knowledge work. The crate exists now to fix the dependency direction:
//! skills → knowledge → core.
#![warn(missing_docs)]
