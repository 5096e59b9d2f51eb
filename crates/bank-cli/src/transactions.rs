//! `bank transactions list|show|export`.

use std::path::PathBuf;

use bank::store::ListFilter;
use bank::{Status, Transaction};
use clap::Subcommand;

use crate::common::{load, Failure};
use crate::Format;

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum TxCommand {
    /// Lists transactions, newest first.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Only this instance.
        #[arg(long)]
        mode: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Shows one transaction and its history.
    Show {
        #[command(flatten)]
        store: StoreArgs,
        /// The reference.
        reference: String,
    },
    /// Exports every transaction.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// csv or json.
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
    },
}

/// Where the transactions are: a configuration's store, or the demo's data directory.
#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    /// The configuration file (its store).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The demo data directory (when no configuration is given).
    #[arg(long, default_value = "bank-data")]
    data_dir: PathBuf,
}

async fn store(a: &StoreArgs) -> Result<std::sync::Arc<dyn bank::Store>, Failure> {
    let url = match &a.config {
        Some(c) => load(c)?.0.store_url,
        None => {
            let db = a.data_dir.join("bank.db");
            if !db.exists() {
                return Err(Failure::Config(format!(
                    "{} does not exist: give --config or run `bank serve` first",
                    db.display()
                )));
            }
            format!("sqlite://{}", db.display())
        }
    };
    let s = bank::store_backends::open(&url)
        .await
        .map_err(|e| Failure::Run(e.into()))?;
    s.migrate().await.map_err(|e| Failure::Run(e.into()))?;
    Ok(s)
}

fn line(t: &Transaction) -> String {
    format!(
        "{}  {}  {:<9} {:>14}  {:<10} {}",
        t.reference,
        t.created_at.format("%Y-%m-%d %H:%M"),
        t.status,
        t.amount.to_string(),
        t.mode.as_deref().unwrap_or("-"),
        t.authorisation.as_deref().unwrap_or("")
    )
}

pub(crate) async fn run(cmd: TxCommand) -> Result<(), Failure> {
    match cmd {
        TxCommand::List {
            store: s,
            status,
            mode,
            limit,
        } => {
            let st = store(&s).await?;
            let filter = ListFilter {
                status: status.map(|x| x.parse::<Status>()).transpose()?,
                mode,
                ..ListFilter::default()
            };
            let page = st.list_transactions(&filter, None, limit).await?;
            for t in &page.items {
                println!("{}", line(t));
            }
            Ok(())
        }
        TxCommand::Show {
            store: s,
            reference,
        } => {
            let st = store(&s).await?;
            let t = st
                .transaction_by_reference(&reference)
                .await?
                .ok_or_else(|| Failure::Run(anyhow::anyhow!("no transaction {reference}")))?;
            println!("{}", line(&t));
            for h in st.history(t.id).await? {
                println!(
                    "  {}  {:<15} {:?} -> {:?}  {}  {}",
                    h.at.to_rfc3339(),
                    h.kind.as_str(),
                    h.from,
                    h.to,
                    h.instance.unwrap_or_default(),
                    h.detail
                );
            }
            Ok(())
        }
        TxCommand::Export { store: s, format } => {
            let st = store(&s).await?;
            let mut all = Vec::new();
            let mut before = None;
            loop {
                let page = st
                    .list_transactions(&ListFilter::default(), before, 1000)
                    .await?;
                all.extend(page.items);
                match page.next {
                    Some(n) => before = Some(n),
                    None => break,
                }
            }
            match format {
                Format::Json => {
                    println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default())
                }
                Format::Csv => {
                    let mut w = csv::Writer::from_writer(std::io::stdout());
                    let header = [
                        "reference",
                        "created_at",
                        "status",
                        "amount",
                        "currency",
                        "refunded",
                        "mode",
                        "authorisation",
                        "auteur",
                        "error_code",
                    ];
                    w.write_record(header).map_err(|e| Failure::Run(e.into()))?;
                    for t in &all {
                        w.write_record(
                            [
                                t.reference.clone(),
                                t.created_at.to_rfc3339(),
                                t.status.to_string(),
                                t.amount.to_decimal_string(),
                                t.amount.currency().code().to_string(),
                                t.refunded.to_decimal_string(),
                                t.mode.clone().unwrap_or_default(),
                                t.authorisation.clone().unwrap_or_default(),
                                t.auteur.clone().unwrap_or_default(),
                                t.error_code.clone().unwrap_or_default(),
                            ]
                            .map(|cell| spreadsheet_safe(&cell)),
                        )
                        .map_err(|e| Failure::Run(e.into()))?;
                    }
                    w.flush().map_err(|e| Failure::Run(e.into()))?;
                }
            }
            Ok(())
        }
    }
}

/// A CSV cell that a spreadsheet shows as text, never runs: a cell starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return (a formula, in Excel, LibreOffice and Sheets) gets a
/// leading `'`, as OWASP recommends; control characters (ESC, BEL, NUL…) are written as
/// `\u{..}` escapes, so a terminal or a spreadsheet never receives them raw. The JSON
/// export is exact.
pub(crate) fn spreadsheet_safe(cell: &str) -> String {
    let mut out = String::with_capacity(cell.len() + 1);
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push('\'');
    }
    for c in cell.chars() {
        if c.is_control() {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn formulas_and_control_characters_are_neutralised() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        for lead in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(spreadsheet_safe(lead).starts_with('\''), "{lead:?}");
        }
        assert_eq!(
            spreadsheet_safe("a\u{1b}[31mb\u{7}\u{0}"),
            "a\\u{1b}[31mb\\u{7}\\u{0}"
        );
        assert_eq!(spreadsheet_safe("12.50"), "12.50");
        assert_eq!(spreadsheet_safe("Zoé O'Brien"), "Zoé O'Brien");
    }
}
