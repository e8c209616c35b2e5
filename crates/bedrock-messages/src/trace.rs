//! What Bedrock reports beside the answer: cache writes by time to live, and the guardrail trace.
//!
//! Both are read from the response's JSON as Bedrock sends it. The guardrail trace is typed for
//! the policies callers act on (topics, content filters, words, sensitive information, contextual
//! grounding) and keeps every other member (automated reasoning, applied-guardrail details, members
//! newer than this crate) as raw JSON, so nothing Bedrock reported is lost.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Cache writes by time to live (`usage.cacheDetails`): how many input tokens were written to a
/// five-minute and to a one-hour cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheDetails {
    /// Tokens written with a five-minute time to live.
    pub five_minutes: u32,
    /// Tokens written with a one-hour time to live.
    pub one_hour: u32,
}

impl CacheDetails {
    /// Adds `tokens` written with `ttl` (`"5m"` or `"1h"`); another time to live is not counted
    /// and returns `false`.
    pub fn add(&mut self, ttl: &str, tokens: u32) -> bool {
        match ttl {
            "5m" => self.five_minutes = self.five_minutes.saturating_add(tokens),
            "1h" => self.one_hour = self.one_hour.saturating_add(tokens),
            _ => return false,
        }
        true
    }
}

/// One entry of `cacheDetails` on the wire.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCacheDetail {
    ttl: String,
    input_tokens: u32,
}

impl Serialize for CacheDetails {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries = Vec::new();
        for (ttl, tokens) in [("5m", self.five_minutes), ("1h", self.one_hour)] {
            if tokens > 0 {
                entries.push(WireCacheDetail {
                    ttl: ttl.to_owned(),
                    input_tokens: tokens,
                });
            }
        }
        entries.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CacheDetails {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<WireCacheDetail>::deserialize(deserializer)?;
        let mut details = CacheDetails::default();
        for e in entries {
            details.add(&e.ttl, e.input_tokens);
        }
        Ok(details)
    }
}

/// The guardrail's part of a response's trace (`trace.guardrail`), when the request's guardrail
/// configuration turned tracing on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct GuardrailTraceAssessment {
    /// The model's output before the guardrail changed it, when it did.
    pub model_output: Vec<String>,
    /// The assessment of the input, by guardrail id.
    pub input_assessment: BTreeMap<String, GuardrailAssessment>,
    /// The assessments of the output, by guardrail id.
    pub output_assessments: BTreeMap<String, Vec<GuardrailAssessment>>,
    /// Why the guardrail acted, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_reason: Option<String>,
}

impl GuardrailTraceAssessment {
    /// Every policy finding of the input and output assessments that the guardrail acted on
    /// (`detected` true, or an action other than `NONE`), as (policy, finding name, action).
    pub fn interventions(&self) -> Vec<(&'static str, String, String)> {
        let assessments = self
            .input_assessment
            .values()
            .chain(self.output_assessments.values().flatten());
        let mut out = Vec::new();
        for a in assessments {
            a.findings(&mut out);
        }
        out
    }
}

/// One guardrail's assessment of the input or an output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct GuardrailAssessment {
    /// Denied topics found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_policy: Option<TopicPolicy>,
    /// Content filters that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_policy: Option<ContentPolicy>,
    /// Custom and managed words found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub word_policy: Option<WordPolicy>,
    /// Personal information and regular expressions found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitive_information_policy: Option<SensitiveInformationPolicy>,
    /// Grounding and relevance scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contextual_grounding_policy: Option<ContextualGroundingPolicy>,
    /// Processing latency, policy units and coverage, as Bedrock sent them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_metrics: Option<Value>,
    /// Every other member (automated reasoning, applied-guardrail details, newer members).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl GuardrailAssessment {
    fn findings(&self, out: &mut Vec<(&'static str, String, String)>) {
        let mut push = |policy: &'static str, name: &str, action: &str, detected: Option<bool>| {
            if detected.unwrap_or(false) || !(action.is_empty() || action == "NONE") {
                out.push((policy, name.to_owned(), action.to_owned()));
            }
        };
        if let Some(p) = &self.topic_policy {
            for t in &p.topics {
                push("topic", &t.name, &t.action, t.detected);
            }
        }
        if let Some(p) = &self.content_policy {
            for f in &p.filters {
                push("content", &f.kind, &f.action, f.detected);
            }
        }
        if let Some(p) = &self.word_policy {
            for w in p.custom_words.iter().chain(&p.managed_word_lists) {
                push("word", &w.matched, &w.action, w.detected);
            }
        }
        if let Some(p) = &self.sensitive_information_policy {
            for e in &p.pii_entities {
                push("sensitive_information", &e.kind, &e.action, e.detected);
            }
            for r in &p.regexes {
                push("sensitive_information", &r.name, &r.action, r.detected);
            }
        }
        if let Some(p) = &self.contextual_grounding_policy {
            for f in &p.filters {
                push("contextual_grounding", &f.kind, &f.action, f.detected);
            }
        }
    }
}

/// `topicPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct TopicPolicy {
    /// The topics found.
    pub topics: Vec<GuardrailTopic>,
}

/// A denied topic found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct GuardrailTopic {
    /// The topic's name.
    pub name: String,
    /// Its type (`DENY`).
    #[serde(rename = "type")]
    pub kind: String,
    /// What the guardrail did (`BLOCKED`, `NONE`).
    pub action: String,
    /// Whether the topic was detected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<bool>,
}

/// `contentPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct ContentPolicy {
    /// The filters that matched.
    pub filters: Vec<ContentFilter>,
}

/// A content filter that matched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct ContentFilter {
    /// The category (`HATE`, `INSULTS`, `SEXUAL`, `VIOLENCE`, `MISCONDUCT`, `PROMPT_ATTACK`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The confidence (`NONE`, `LOW`, `MEDIUM`, `HIGH`).
    pub confidence: String,
    /// The filter's strength, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_strength: Option<String>,
    /// What the guardrail did.
    pub action: String,
    /// Whether the filter was detected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<bool>,
}

/// `wordPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct WordPolicy {
    /// Custom words found.
    pub custom_words: Vec<GuardrailWord>,
    /// Words of managed lists (profanity) found.
    pub managed_word_lists: Vec<GuardrailWord>,
}

/// A word found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct GuardrailWord {
    /// The text that matched.
    #[serde(rename = "match")]
    pub matched: String,
    /// The managed list's type, for managed words.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// What the guardrail did.
    pub action: String,
    /// Whether the word was detected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<bool>,
}

/// `sensitiveInformationPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct SensitiveInformationPolicy {
    /// Personal information found.
    pub pii_entities: Vec<PiiEntity>,
    /// Regular expressions that matched.
    pub regexes: Vec<RegexMatch>,
}

/// Personal information found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct PiiEntity {
    /// The text that matched.
    #[serde(rename = "match")]
    pub matched: String,
    /// The kind (`EMAIL`, `PHONE`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// What the guardrail did (`ANONYMIZED`, `BLOCKED`, `NONE`).
    pub action: String,
    /// Whether it was detected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<bool>,
}

/// A regular expression that matched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct RegexMatch {
    /// The expression's name.
    pub name: String,
    /// The text that matched.
    #[serde(rename = "match")]
    pub matched: String,
    /// The expression.
    pub regex: String,
    /// What the guardrail did.
    pub action: String,
    /// Whether it was detected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<bool>,
}

/// `contextualGroundingPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct ContextualGroundingPolicy {
    /// The grounding and relevance filters.
    pub filters: Vec<GroundingFilter>,
}

/// A grounding or relevance filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct GroundingFilter {
    /// `GROUNDING` or `RELEVANCE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The threshold configured.
    pub threshold: f64,
    /// The score measured.
    pub score: f64,
    /// What the guardrail did.
    pub action: String,
    /// Whether the filter was detected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cache_details_read_and_write_the_wire_array() {
        let d: CacheDetails = serde_json::from_value(json!([
            {"ttl": "5m", "inputTokens": 1200},
            {"ttl": "1h", "inputTokens": 3000},
            {"ttl": "2d", "inputTokens": 7}
        ]))
        .unwrap();
        assert_eq!(
            d,
            CacheDetails {
                five_minutes: 1200,
                one_hour: 3000
            }
        );
        assert_eq!(
            serde_json::to_value(d).unwrap(),
            json!([{"ttl": "5m", "inputTokens": 1200}, {"ttl": "1h", "inputTokens": 3000}])
        );
    }

    #[test]
    fn a_guardrail_trace_is_typed_and_keeps_what_it_does_not_model() {
        let wire = json!({
            "modelOutput": ["the unfiltered answer"],
            "inputAssessment": {
                "gr-1": {
                    "topicPolicy": {"topics": [{"name": "Investment advice", "type": "DENY", "action": "BLOCKED", "detected": true}]},
                    "sensitiveInformationPolicy": {
                        "piiEntities": [{"match": "a@b.c", "type": "EMAIL", "action": "ANONYMIZED", "detected": true}],
                        "regexes": []
                    },
                    "invocationMetrics": {"guardrailProcessingLatency": 120},
                    "automatedReasoningPolicy": {"findings": []}
                }
            },
            "outputAssessments": {
                "gr-1": [{"contentPolicy": {"filters": [{"type": "HATE", "confidence": "NONE", "action": "NONE", "detected": false}]}}]
            },
            "actionReason": "Guardrail blocked."
        });
        let trace: GuardrailTraceAssessment = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(trace.model_output, ["the unfiltered answer"]);
        let input = &trace.input_assessment["gr-1"];
        assert!(input.other.contains_key("automatedReasoningPolicy"));
        assert_eq!(
            trace.interventions(),
            [
                (
                    "topic",
                    "Investment advice".to_owned(),
                    "BLOCKED".to_owned()
                ),
                (
                    "sensitive_information",
                    "EMAIL".to_owned(),
                    "ANONYMIZED".to_owned()
                )
            ]
        );
        // Nothing is lost on the way back to JSON.
        let back = serde_json::to_value(&trace).unwrap();
        assert_eq!(
            back["inputAssessment"]["gr-1"]["automatedReasoningPolicy"],
            wire["inputAssessment"]["gr-1"]["automatedReasoningPolicy"]
        );
        assert_eq!(back["actionReason"], "Guardrail blocked.");
    }
}
