//! Full-text search of the deal index: the terms of a question and the blended score.

/// Most terms taken from one question.
const MAX_SEARCH_TERMS: usize = 24;

/// English stop words (the Snowball list that PostgreSQL's `english` configuration also drops),
/// so both backends score a question against the same terms.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "ought",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// The distinct search terms of a natural-language question: lower-case runs of letters and
/// digits, stop words and single letters dropped, at most 24, in order of appearance. Terms
/// hold only alphanumeric characters, so they are safe inside an FTS5 phrase.
pub fn search_terms(context: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in context.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let w = word.to_lowercase();
        let single_letter = w.chars().count() == 1 && !w.chars().all(|c| c.is_ascii_digit());
        if single_letter || STOP_WORDS.contains(&w.as_str()) || out.contains(&w) {
            continue;
        }
        out.push(w);
        if out.len() == MAX_SEARCH_TERMS {
            break;
        }
    }
    out
}

/// Score of a fact for a question, 0–1: mostly the share of the question's terms the fact
/// matches, plus the engine's own rank (BM25 on SQLite, `ts_rank` on PostgreSQL) relative to
/// the best candidate, so facts that match the same terms are still told apart.
pub fn blend_score(matched: usize, total: usize, strength: f64, best_strength: f64) -> f64 {
    if total == 0 || matched == 0 {
        return 0.0;
    }
    let coverage = matched.min(total) as f64 / total as f64;
    let relative =
        if best_strength > 0.0 && strength.is_finite() { (strength / best_strength).clamp(0.0, 1.0) } else { 0.0 };
    let s = 0.75 * coverage + 0.25 * relative;
    (s * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_drop_stop_words_and_repeats() {
        assert_eq!(
            search_terms("What is the in-place NOI for the trailing twelve months?"),
            ["place", "noi", "trailing", "twelve", "months"]
        );
        assert_eq!(search_terms("T-12 NOI noi"), ["12", "noi"]);
        assert!(search_terms("the of and").is_empty());
        assert_eq!(search_terms(&"word ".repeat(100)).len(), 1);
        let many: String = (0..100).map(|i| format!("w{i} ")).collect();
        assert_eq!(search_terms(&many).len(), MAX_SEARCH_TERMS);
    }

    #[test]
    fn scores_stay_in_range_and_reward_coverage() {
        assert_eq!(blend_score(0, 3, 1.0, 1.0), 0.0);
        assert_eq!(blend_score(3, 3, 2.0, 2.0), 1.0);
        assert!(blend_score(2, 3, 1.0, 2.0) < blend_score(3, 3, 1.0, 2.0));
        assert!(blend_score(1, 1, f64::NAN, 1.0) <= 1.0);
    }
}
