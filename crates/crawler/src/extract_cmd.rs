//! `crawler extract`: the extractor on its own, for scoring and debugging.

#[derive(clap::Args)]
pub struct ExtractArgs {
    /// URL of the page (base for relative links; also read from $PAGE_URL).
    #[arg(long, env = "PAGE_URL")]
    pub url: Option<String>,
}

pub fn run(_args: ExtractArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
