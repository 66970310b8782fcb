//! Which of a list of words a header value contains, ASCII case-insensitively: the User-Agent
//! rules (link-preview bots, people's desktop clients, the trail's client families) ask this of
//! every request, so it is one pass over the value and no allocation.
//!
//! The words are grouped by their first byte (a set of up to 64 words per byte value); the
//! value is scanned once, and at each of its bytes only the words starting with that byte are
//! compared. The answer is the first word *in the list's order* that occurs anywhere in the
//! value — what `words.iter().position(|w| value.to_ascii_lowercase().contains(w))` gives,
//! without lowering a copy and without one substring search per word.

/// The index of the first of `words` (in their order) that `value` contains, ASCII
/// case-insensitively. An empty word matches nothing.
pub fn first_contained<S: AsRef<str>>(value: &str, words: &[S]) -> Option<usize> {
    let hay = value.as_bytes();
    for (chunk_no, chunk) in words.chunks(64).enumerate() {
        let mut starting = [0u64; 256];
        for (i, word) in chunk.iter().enumerate() {
            if let Some(&first) = word.as_ref().as_bytes().first() {
                starting[usize::from(first.to_ascii_lowercase())] |= 1 << i;
            }
        }
        // The best (lowest) index found so far, 64 for none.
        let mut best = 64;
        for (at, &byte) in hay.iter().enumerate() {
            let mut candidates = starting[usize::from(byte.to_ascii_lowercase())] & below(best);
            while candidates != 0 {
                let i = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                let word = chunk[i].as_ref().as_bytes();
                if hay[at..].get(..word.len()).is_some_and(|here| here.eq_ignore_ascii_case(word)) {
                    // Candidates come in ascending order: no later one here can beat it.
                    best = i;
                    break;
                }
            }
            if best == 0 {
                break;
            }
        }
        if best < 64 {
            return Some(chunk_no * 64 + best);
        }
    }
    None
}

/// Whether `value` contains any of `words`, ASCII case-insensitively.
pub fn contains_any<S: AsRef<str>>(value: &str, words: &[S]) -> bool {
    first_contained(value, words).is_some()
}

/// The set of indices below `i` (all of them for 64).
fn below(i: usize) -> u64 {
    if i >= 64 { u64::MAX } else { (1u64 << i) - 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the one pass must equal: a lowered copy and one search per word.
    fn naive(value: &str, words: &[String]) -> Option<usize> {
        let lowered = value.to_ascii_lowercase();
        words.iter().position(|w| !w.is_empty() && lowered.contains(&w.to_ascii_lowercase()))
    }

    #[test]
    fn the_first_word_in_list_order_wins_wherever_it_occurs() {
        let words = ["bot", "curl/", "chrome/"];
        assert_eq!(first_contained("Mozilla Chrome/1 curl/8 Googlebot", &words), Some(0));
        assert_eq!(first_contained("chrome/1 CURL/8", &words), Some(1));
        assert_eq!(first_contained("chrome/1", &words), Some(2));
        assert_eq!(first_contained("chrome", &words), None, "a word must be there whole");
        assert_eq!(first_contained("", &words), None);
        assert_eq!(first_contained("anything", &["", "thing"]), Some(1), "an empty word matches nothing");
        assert_eq!(first_contained("ab", &["abc"]), None, "no match past the end");
        assert_eq!(first_contained("Ünïcode bot", &["bot"]), Some(0));
    }

    #[test]
    fn it_agrees_with_a_search_per_word_also_past_64_words() {
        // Words sharing first bytes, overlapping, and more than one chunk of 64.
        let mut words: Vec<String> = (0..150).map(|i| format!("w{}x{}", i % 7, i)).collect();
        words.extend(["a", "ab", "abc", "b", "BA", "x1"].map(String::from));
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..3000 {
            let mut value = String::new();
            for _ in 0..(seed % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                value.push(b"wWxX0123456789abAB /"[(seed % 20) as usize] as char);
            }
            assert_eq!(first_contained(&value, &words), naive(&value, &words), "{value:?}");
        }
    }
}
