//! Citations: cited text and where it came from (documents, pages, chunks, web and search results).

use aws_sdk_bedrockruntime::types as sdk;

use super::unsupported;
use crate::error::Error;
use crate::model::{
    Citation, CitationLocation, CitationText, CitationsContentBlock, DocumentRange,
    SearchResultRange, WebLocation,
};

// ---- citations ----

fn citation_texts_to_sdk<T>(
    v: &Option<Vec<CitationText>>,
    f: impl Fn(String) -> T,
) -> Option<Vec<T>> {
    v.as_ref()
        .map(|v| v.iter().map(|CitationText::Text(t)| f(t.clone())).collect())
}

fn range_to_sdk(r: &DocumentRange) -> (Option<i32>, Option<i32>, Option<i32>) {
    (r.document_index, r.start, r.end)
}

impl From<&CitationsContentBlock> for sdk::CitationsContentBlock {
    fn from(c: &CitationsContentBlock) -> Self {
        let citations = c.citations.as_ref().map(|cs| {
            cs.iter()
                .map(|x| {
                    let location = x.location.as_ref().map(|l| match l {
                        CitationLocation::Web(w) => sdk::CitationLocation::Web(
                            sdk::WebLocation::builder()
                                .set_url(w.url.clone())
                                .set_domain(w.domain.clone())
                                .build(),
                        ),
                        CitationLocation::DocumentChar(r) => {
                            let (i, s, e) = range_to_sdk(r);
                            sdk::CitationLocation::DocumentChar(
                                sdk::DocumentCharLocation::builder()
                                    .set_document_index(i)
                                    .set_start(s)
                                    .set_end(e)
                                    .build(),
                            )
                        }
                        CitationLocation::DocumentPage(r) => {
                            let (i, s, e) = range_to_sdk(r);
                            sdk::CitationLocation::DocumentPage(
                                sdk::DocumentPageLocation::builder()
                                    .set_document_index(i)
                                    .set_start(s)
                                    .set_end(e)
                                    .build(),
                            )
                        }
                        CitationLocation::DocumentChunk(r) => {
                            let (i, s, e) = range_to_sdk(r);
                            sdk::CitationLocation::DocumentChunk(
                                sdk::DocumentChunkLocation::builder()
                                    .set_document_index(i)
                                    .set_start(s)
                                    .set_end(e)
                                    .build(),
                            )
                        }
                        CitationLocation::SearchResultLocation(r) => {
                            sdk::CitationLocation::SearchResultLocation(
                                sdk::SearchResultLocation::builder()
                                    .set_search_result_index(r.search_result_index)
                                    .set_start(r.start)
                                    .set_end(r.end)
                                    .build(),
                            )
                        }
                    });
                    sdk::Citation::builder()
                        .set_title(x.title.clone())
                        .set_source(x.source.clone())
                        .set_source_content(citation_texts_to_sdk(
                            &x.source_content,
                            sdk::CitationSourceContent::Text,
                        ))
                        .set_location(location)
                        .build()
                })
                .collect()
        });
        sdk::CitationsContentBlock::builder()
            .set_content(citation_texts_to_sdk(
                &c.content,
                sdk::CitationGeneratedContent::Text,
            ))
            .set_citations(citations)
            .build()
    }
}

impl TryFrom<&sdk::CitationsContentBlock> for CitationsContentBlock {
    type Error = Error;
    fn try_from(c: &sdk::CitationsContentBlock) -> Result<Self, Error> {
        let content = c
            .content
            .as_ref()
            .map(|v| {
                v.iter()
                    .map(|x| match x {
                        sdk::CitationGeneratedContent::Text(t) => Ok(CitationText::Text(t.clone())),
                        other => Err(unsupported("CitationGeneratedContent", other)),
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let citations = c
            .citations
            .as_ref()
            .map(|cs| {
                cs.iter()
                    .map(|x| {
                        let source_content = x
                            .source_content
                            .as_ref()
                            .map(|v| {
                                v.iter()
                                    .map(|s| match s {
                                        sdk::CitationSourceContent::Text(t) => {
                                            Ok(CitationText::Text(t.clone()))
                                        }
                                        other => Err(unsupported("CitationSourceContent", other)),
                                    })
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .transpose()?;
                        let location = match &x.location {
                            None => None,
                            Some(sdk::CitationLocation::Web(w)) => {
                                Some(CitationLocation::Web(WebLocation {
                                    url: w.url.clone(),
                                    domain: w.domain.clone(),
                                }))
                            }
                            Some(sdk::CitationLocation::DocumentChar(r)) => {
                                Some(CitationLocation::DocumentChar(DocumentRange {
                                    document_index: r.document_index,
                                    start: r.start,
                                    end: r.end,
                                }))
                            }
                            Some(sdk::CitationLocation::DocumentPage(r)) => {
                                Some(CitationLocation::DocumentPage(DocumentRange {
                                    document_index: r.document_index,
                                    start: r.start,
                                    end: r.end,
                                }))
                            }
                            Some(sdk::CitationLocation::DocumentChunk(r)) => {
                                Some(CitationLocation::DocumentChunk(DocumentRange {
                                    document_index: r.document_index,
                                    start: r.start,
                                    end: r.end,
                                }))
                            }
                            Some(sdk::CitationLocation::SearchResultLocation(r)) => {
                                Some(CitationLocation::SearchResultLocation(SearchResultRange {
                                    search_result_index: r.search_result_index,
                                    start: r.start,
                                    end: r.end,
                                }))
                            }
                            Some(other) => return Err(unsupported("CitationLocation", other)),
                        };
                        Ok(Citation {
                            title: x.title.clone(),
                            source: x.source.clone(),
                            source_content,
                            location,
                        })
                    })
                    .collect::<Result<Vec<_>, Error>>()
            })
            .transpose()?;
        Ok(Self { content, citations })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ContentBlock;

    #[test]
    fn citations_round_trip() {
        let c = CitationsContentBlock {
            content: Some(vec![CitationText::Text("gen".into())]),
            citations: Some(vec![
                Citation {
                    title: Some("t".into()),
                    source: None,
                    source_content: Some(vec![CitationText::Text("s".into())]),
                    location: Some(CitationLocation::DocumentChunk(DocumentRange {
                        document_index: Some(0),
                        start: Some(1),
                        end: Some(2),
                    })),
                },
                Citation {
                    location: Some(CitationLocation::Web(WebLocation {
                        url: Some("https://e.x".into()),
                        domain: None,
                    })),
                    ..Citation::default()
                },
            ]),
        };
        let b = ContentBlock::CitationsContent(c);
        let s = sdk::ContentBlock::try_from(&b).unwrap();
        assert_eq!(ContentBlock::try_from(&s).unwrap(), b);
    }
}
