//! Media and document sources: S3 locations, images, videos and documents.

use aws_sdk_bedrockruntime::types as sdk;

use super::{blob, bytes, parse, unsupported};
use crate::error::Error;
use crate::format::{DocumentFormat, ImageFormat, VideoFormat};
use crate::model::{
    CitationsConfig, DocumentBlock, DocumentContentBlock, DocumentSource, ImageBlock, MediaSource,
    S3Location, VideoBlock,
};

// ---- S3 and media sources ----

impl TryFrom<&S3Location> for sdk::S3Location {
    type Error = Error;
    fn try_from(s: &S3Location) -> Result<Self, Error> {
        sdk::S3Location::builder()
            .uri(&s.uri)
            .set_bucket_owner(s.bucket_owner.clone())
            .build()
            .map_err(Error::sdk("S3Location"))
    }
}

impl From<&sdk::S3Location> for S3Location {
    fn from(s: &sdk::S3Location) -> Self {
        Self {
            uri: s.uri().to_owned(),
            bucket_owner: s.bucket_owner().map(str::to_owned),
        }
    }
}

impl TryFrom<&ImageBlock> for sdk::ImageBlock {
    type Error = Error;
    fn try_from(b: &ImageBlock) -> Result<Self, Error> {
        let source = match &b.source {
            MediaSource::Bytes(x) => sdk::ImageSource::Bytes(blob(x)),
            MediaSource::S3Location(s) => sdk::ImageSource::S3Location(s.try_into()?),
        };
        sdk::ImageBlock::builder()
            .format(sdk::ImageFormat::from(b.format.as_str()))
            .source(source)
            .build()
            .map_err(Error::sdk("ImageBlock"))
    }
}

impl TryFrom<&sdk::ImageBlock> for ImageBlock {
    type Error = Error;
    fn try_from(b: &sdk::ImageBlock) -> Result<Self, Error> {
        let source = match b.source() {
            Some(sdk::ImageSource::Bytes(x)) => MediaSource::Bytes(bytes(x)),
            Some(sdk::ImageSource::S3Location(s)) => MediaSource::S3Location(s.into()),
            other => return Err(unsupported("ImageSource", &other)),
        };
        Ok(Self {
            format: parse::<ImageFormat>(b.format().as_str())?,
            source,
        })
    }
}

impl TryFrom<&VideoBlock> for sdk::VideoBlock {
    type Error = Error;
    fn try_from(b: &VideoBlock) -> Result<Self, Error> {
        let source = match &b.source {
            MediaSource::Bytes(x) => sdk::VideoSource::Bytes(blob(x)),
            MediaSource::S3Location(s) => sdk::VideoSource::S3Location(s.try_into()?),
        };
        sdk::VideoBlock::builder()
            .format(sdk::VideoFormat::from(b.format.as_str()))
            .source(source)
            .build()
            .map_err(Error::sdk("VideoBlock"))
    }
}

impl TryFrom<&sdk::VideoBlock> for VideoBlock {
    type Error = Error;
    fn try_from(b: &sdk::VideoBlock) -> Result<Self, Error> {
        let source = match b.source() {
            Some(sdk::VideoSource::Bytes(x)) => MediaSource::Bytes(bytes(x)),
            Some(sdk::VideoSource::S3Location(s)) => MediaSource::S3Location(s.into()),
            other => return Err(unsupported("VideoSource", &other)),
        };
        Ok(Self {
            format: parse::<VideoFormat>(b.format().as_str())?,
            source,
        })
    }
}

impl TryFrom<&DocumentBlock> for sdk::DocumentBlock {
    type Error = Error;
    fn try_from(b: &DocumentBlock) -> Result<Self, Error> {
        let source = match &b.source {
            DocumentSource::Bytes(x) => sdk::DocumentSource::Bytes(blob(x)),
            DocumentSource::S3Location(s) => sdk::DocumentSource::S3Location(s.try_into()?),
            DocumentSource::Text(t) => sdk::DocumentSource::Text(t.clone()),
            DocumentSource::Content(c) => sdk::DocumentSource::Content(
                c.iter()
                    .map(|DocumentContentBlock::Text(t)| sdk::DocumentContentBlock::Text(t.clone()))
                    .collect(),
            ),
        };
        let citations = match b.citations {
            Some(c) => Some(
                sdk::CitationsConfig::builder()
                    .enabled(c.enabled)
                    .build()
                    .map_err(Error::sdk("CitationsConfig"))?,
            ),
            None => None,
        };
        sdk::DocumentBlock::builder()
            .format(sdk::DocumentFormat::from(b.format.as_str()))
            .name(&b.name)
            .source(source)
            .set_context(b.context.clone())
            .set_citations(citations)
            .build()
            .map_err(Error::sdk("DocumentBlock"))
    }
}

impl TryFrom<&sdk::DocumentBlock> for DocumentBlock {
    type Error = Error;
    fn try_from(b: &sdk::DocumentBlock) -> Result<Self, Error> {
        let source = match b.source() {
            Some(sdk::DocumentSource::Bytes(x)) => DocumentSource::Bytes(bytes(x)),
            Some(sdk::DocumentSource::S3Location(s)) => DocumentSource::S3Location(s.into()),
            Some(sdk::DocumentSource::Text(t)) => DocumentSource::Text(t.clone()),
            Some(sdk::DocumentSource::Content(c)) => DocumentSource::Content(
                c.iter()
                    .map(|x| match x {
                        sdk::DocumentContentBlock::Text(t) => {
                            Ok(DocumentContentBlock::Text(t.clone()))
                        }
                        other => Err(unsupported("DocumentContentBlock", other)),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(unsupported("DocumentSource", &other)),
        };
        Ok(Self {
            format: parse::<DocumentFormat>(b.format().as_str())?,
            name: b.name().to_owned(),
            source,
            context: b.context().map(str::to_owned),
            citations: b.citations().map(|c| CitationsConfig {
                enabled: c.enabled(),
            }),
        })
    }
}
