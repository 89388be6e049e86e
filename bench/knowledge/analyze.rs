//! Prints the analysed terms, concepts and embedding text of each argument (a debugging aid).
//!
//!   cargo run -p warroom-knowledge --example knowledge-analyze -- "QUERY" …
fn main() {
    for q in std::env::args().skip(1) {
        println!("{q}");
        println!("  tokens:   {:?}", warroom_knowledge::text::tokens(&q));
        let c: Vec<String> = warroom_knowledge::text::query_concepts(&q)
            .into_iter()
            .map(|c| format!("{}{}", c.forms.join("|"), if c.optional { "?" } else { "" }))
            .collect();
        println!("  concepts: {c:?}");
        println!(
            "  embed:    {}",
            warroom_knowledge::text::clean_for_embedding(&q)
        );
    }
}
