//! `llmm models` and `llmm regions`: what the model catalog knows.
//!
//! Both read the snapshot bundled with the binary (no network) unless `--refresh` asks the
//! Bedrock control plane, through the same backend as every other command (so `--simulate`
//! refreshes from the simulator).

use std::collections::BTreeMap;
use std::io::Write as _;

use anyhow::Context as _;
use bedrock_catalog::{CacheMode, Catalog, ModelInfo};
use serde::Serialize;

use crate::backend::Backend;
use crate::cli::{GlobalArgs, ModelsArgs, RegionsArgs};
use crate::exit::{Exit, usage};

/// One model in `models --json`.
#[derive(Debug, Serialize)]
struct ModelJson<'a> {
    id: &'a str,
    name: &'a str,
    provider: &'a str,
    input_modalities: &'a [String],
    output_modalities: &'a [String],
    streaming: bool,
    tools: bool,
    images: bool,
    documents: bool,
    video: bool,
    prompt_caching: bool,
    /// Regions it can be called from, with how: `direct`, a regional or a global profile id.
    regions: BTreeMap<&'a str, Vec<String>>,
}

/// One region in `regions --json`.
#[derive(Debug, Serialize)]
struct RegionJson<'a> {
    region: &'a str,
    models: usize,
    direct: usize,
}

async fn load_catalog(global: &GlobalArgs, refresh: bool) -> anyhow::Result<Catalog> {
    if !refresh {
        return Catalog::bundled().context("cannot load the bundled catalog");
    }
    let backend = Backend::start(global).await?;
    let regions = global.regions_or_default();
    let first = regions
        .first()
        .cloned()
        .unwrap_or_else(|| "us-east-1".to_owned());
    let sdk = backend.sdk_config(&first).await;
    let mut builder = Catalog::builder()
        .force_refresh(true)
        .sdk_config(sdk)
        .regions(regions);
    if backend.is_local() {
        // A simulator's or test endpoint's catalog must not replace the real one in the cache.
        builder = builder.cache_mode(CacheMode::Memory);
    }
    let catalog = builder
        .build()
        .await
        .context("cannot refresh the catalog")?;
    backend.shutdown().await;
    for warning in catalog.warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(catalog)
}

fn access_list(model: &ModelInfo, region: &str) -> Vec<String> {
    let Some(access) = model.region_access(region) else {
        return Vec::new();
    };
    let mut list = Vec::new();
    if access.direct {
        list.push("direct".to_owned());
    }
    list.extend(access.regional_profile.iter().cloned());
    list.extend(access.global_profile.iter().cloned());
    list
}

/// Runs `llmm models`.
pub(crate) async fn run_models(global: &GlobalArgs, args: &ModelsArgs) -> anyhow::Result<Exit> {
    let catalog = load_catalog(global, args.refresh).await?;
    if let Some(provider) = &args.provider {
        let known = catalog.providers();
        if !known.iter().any(|p| p.eq_ignore_ascii_case(provider)) {
            return Err(usage(format!(
                "unknown provider {provider:?}; known providers: {}",
                known.join(", ")
            )));
        }
    }
    let models: Vec<&ModelInfo> = catalog
        .models()
        .iter()
        .filter(|m| {
            args.provider
                .as_ref()
                .is_none_or(|p| m.provider.eq_ignore_ascii_case(p))
        })
        .filter(|m| {
            global.regions.is_empty() || global.regions.iter().any(|r| m.region_access(r).is_some())
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<ModelJson<'_>> = models
            .iter()
            .map(|m| ModelJson {
                id: &m.id,
                name: &m.name,
                provider: &m.provider,
                input_modalities: &m.input_modalities,
                output_modalities: &m.output_modalities,
                streaming: m.streaming,
                tools: m.capabilities.tools,
                images: m.capabilities.images,
                documents: m.capabilities.documents,
                video: m.capabilities.video,
                prompt_caching: m.capabilities.prompt_caching.is_some(),
                regions: m
                    .regions
                    .keys()
                    .filter(|r| global.regions.is_empty() || global.regions.contains(r))
                    .map(|r| (r.as_str(), access_list(m, r)))
                    .filter(|(_, a)| !a.is_empty())
                    .collect(),
            })
            .collect();
        let text = serde_json::to_string_pretty(&list).context("cannot serialise models")?;
        writeln!(out, "{text}").context("cannot write to stdout")?;
        return Ok(Exit::Success);
    }
    let rows: Vec<[String; 5]> = models
        .iter()
        .map(|m| {
            let regions = m
                .regions
                .keys()
                .filter(|r| m.region_access(r).is_some())
                .count();
            let mut features = Vec::new();
            for (on, name) in [
                (m.streaming, "stream"),
                (m.capabilities.tools, "tools"),
                (m.capabilities.images, "images"),
                (m.capabilities.documents, "docs"),
                (m.capabilities.video, "video"),
                (m.capabilities.prompt_caching.is_some(), "cache"),
            ] {
                if on {
                    features.push(name);
                }
            }
            [
                m.id.clone(),
                m.provider.clone(),
                m.name.clone(),
                regions.to_string(),
                features.join(","),
            ]
        })
        .collect();
    write_table(
        &mut out,
        ["MODEL ID", "PROVIDER", "NAME", "REGIONS", "FEATURES"],
        &rows,
    )?;
    eprintln!(
        "{} model(s); catalog: {} (data version {})",
        rows.len(),
        catalog.metadata().source.as_str(),
        catalog.metadata().data_version
    );
    Ok(Exit::Success)
}

/// Runs `llmm regions`.
pub(crate) async fn run_regions(global: &GlobalArgs, args: &RegionsArgs) -> anyhow::Result<Exit> {
    let catalog = load_catalog(global, args.refresh).await?;
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for model in catalog.models() {
        for (region, access) in &model.regions {
            if access.is_callable() {
                let entry = counts.entry(region.as_str()).or_default();
                entry.0 += 1;
                if access.direct {
                    entry.1 += 1;
                }
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<RegionJson<'_>> = counts
            .iter()
            .map(|(region, (models, direct))| RegionJson {
                region,
                models: *models,
                direct: *direct,
            })
            .collect();
        let text = serde_json::to_string_pretty(&list).context("cannot serialise regions")?;
        writeln!(out, "{text}").context("cannot write to stdout")?;
        return Ok(Exit::Success);
    }
    let rows: Vec<[String; 3]> = counts
        .iter()
        .map(|(r, (m, d))| [(*r).to_owned(), m.to_string(), d.to_string()])
        .collect();
    write_table(&mut out, ["REGION", "MODELS", "DIRECT"], &rows)?;
    Ok(Exit::Success)
}

/// Writes left-aligned columns separated by two spaces.
fn write_table<const N: usize>(
    out: &mut impl std::io::Write,
    header: [&str; N],
    rows: &[[String; N]],
) -> anyhow::Result<()> {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(header.to_vec())).context("cannot write to stdout")?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))
            .context("cannot write to stdout")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_align() {
        let mut out = Vec::new();
        write_table(
            &mut out,
            ["A", "BB"],
            &[
                ["xyz".to_owned(), "1".to_owned()],
                ["q".to_owned(), "22".to_owned()],
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "A    BB\nxyz  1\nq    22\n"
        );
    }
}
