//! Every SQL statement binds its values: no SQL text is built from a value. This test reads every `.rs`
//! file under `crates/*/src` and `examples/` and fails on
//!
//! - a sqlx entry point (`sqlx::query`, `query_as`, `query_scalar`, their `_with` forms, `raw_sql`,
//!   `copy_in_raw`, `AssertSqlSafe`) whose SQL argument is not constant: a string literal, a `const`
//!   (an UPPER_CASE name), `concat!` of those, or a name that can only hold one (a `&'static str`
//!   parameter, a loop over an array of constants);
//! - SQL-looking text assembled at run time: a `format!`/`write!` template, a `push_str`, a `+` operand
//!   or a literal turned into a `String` that reads as SQL (`select … from`, `insert into`, `where x =`…);
//! - sqlx's `QueryBuilder`, whose `push` concatenates text (only `push_bind` binds).
//!
//! A statement that cannot take bind parameters (PostgreSQL's utility statements: `create database`,
//! `copy`) may splice an identifier only when [`ALLOWED`] names the place and why the identifier cannot
//! carry anything but what it should. An entry that no longer matches anything fails too, so the list
//! stays true.

use std::path::{Path, PathBuf};

/// Places allowed to build SQL text, each with why it is safe: (file, text on the line, reason).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "examples/bench.rs",
        "AssertSqlSafe(format!(\"create database {scratch}\"))",
        "CREATE DATABASE takes no bind parameters; {scratch} is `tributary_bench_` and the process id (a u32), nothing from input",
    ),
    (
        "examples/bench.rs",
        "format!(\"drop database if exists {scratch} with (force)\")",
        "DROP DATABASE takes no bind parameters; {scratch} is `tributary_bench_` and the process id",
    ),
    (
        "examples/bench.rs",
        "AssertSqlSafe(drop_scratch)",
        "the DROP DATABASE text above, built from the fixed prefix and a u32",
    ),
    (
        "examples/bench/holdings.rs",
        "format!(\"copy public.user_aggregated_holdings ({COLUMNS}) from stdin\")",
        "COPY takes no bind parameters; COLUMNS is a const column list in the same file",
    ),
    (
        "examples/bench/holdings.rs",
        "copy_in_raw(&statement)",
        "the COPY text above, built from a const column list",
    ),
    (
        "examples/bench/reseal.rs",
        "AssertSqlSafe(format!(\"create database {database}\"))",
        "CREATE DATABASE takes no bind parameters; {database} is the bench's scratch database name (a fixed prefix and the process id) with `_reseal`",
    ),
    (
        "examples/bench/reseal.rs",
        "format!(\"drop database if exists {database} with (force)\")",
        "DROP DATABASE takes no bind parameters; {database} is the name created above",
    ),
    (
        "examples/bench/reseal.rs",
        "AssertSqlSafe(drop_reseal_database)",
        "the DROP DATABASE text above",
    ),
    (
        "examples/bench/webhooks.rs",
        "let versions_in_table = format!(",
        "a table name cannot be bound; {table} comes from the const WATCHED list in the same file, and the user id is bound",
    ),
    (
        "examples/bench/webhooks.rs",
        "AssertSqlSafe(versions_in_table)",
        "the SELECT text above, a const table name spliced",
    ),
    (
        "crates/repo/src/pg/mod.rs",
        "let begin_with_claims = format!(",
        "BEGIN with the role and claims as one simple query, which takes no bind parameters; the only value is a UserId (a Uuid: hex digits and hyphens) inside serde_json's claims object, which holds no quote",
    ),
    (
        "crates/repo/src/pg/mod.rs",
        "begin_with(sqlx::AssertSqlSafe(begin_as(me)))",
        "the BEGIN text above (begin_as)",
    ),
    (
        "crates/repo/src/pg/holdings.rs",
        "let begin_and_lock = format!(",
        "BEGIN with the user's advisory lock as one simple query, which takes no bind parameters; the only value is a UserId (a Uuid: hex digits and hyphens)",
    ),
    (
        "crates/repo/src/pg/holdings.rs",
        "begin_with(sqlx::AssertSqlSafe(begin_and_lock))",
        "the BEGIN text above",
    ),
];

/// A piece of Rust source, comments dropped.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A string literal's contents (escapes left as written), any flavour: "", r#""#, b"".
    Str(String),
    /// An identifier or keyword.
    Ident(String),
    /// One punctuation character.
    Punct(char),
}

/// A token and the line it starts on.
#[derive(Debug, Clone)]
struct Lexed {
    token: Token,
    line: usize,
}

/// Splits Rust source into tokens: enough of Rust's lexical grammar to find string literals, identifiers
/// and punctuation reliably (comments, raw strings, char literals and lifetimes are handled).
fn lex(source: &str) -> Vec<Lexed> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    let count_lines =
        |from: usize, to: usize| chars[from..to].iter().filter(|&&c| c == '\n').count();
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let start = i;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            line += count_lines(start, i);
        } else if let Some((text, end)) = string_literal(&chars, i) {
            tokens.push(Lexed {
                token: Token::Str(text),
                line,
            });
            line += count_lines(start, end);
            i = end;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('static).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Lexed {
                token: Token::Ident(chars[start..i].iter().collect()),
                line,
            });
        } else {
            tokens.push(Lexed {
                token: Token::Punct(c),
                line,
            });
            i += 1;
        }
    }
    tokens
}

/// The string literal starting at `i`, if one does: its contents and where it ends.
fn string_literal(chars: &[char], i: usize) -> Option<(String, usize)> {
    let mut j = i;
    if chars.get(j) == Some(&'b') || chars.get(j) == Some(&'c') {
        j += 1;
    }
    // Not part of a longer identifier (e.g. `sub"` cannot happen, but `rb` can't either).
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    if chars.get(j) == Some(&'r') {
        let mut k = j + 1;
        let mut hashes = 0;
        while chars.get(k) == Some(&'#') {
            hashes += 1;
            k += 1;
        }
        if chars.get(k) != Some(&'"') {
            return None;
        }
        let body = k + 1;
        let mut end = body;
        loop {
            if end >= chars.len() {
                return None;
            }
            if chars[end] == '"' && (1..=hashes).all(|h| chars.get(end + h) == Some(&'#')) {
                let text = chars[body..end].iter().collect();
                return Some((text, end + 1 + hashes));
            }
            end += 1;
        }
    }
    if chars.get(j) != Some(&'"') {
        return None;
    }
    let body = j + 1;
    let mut end = body;
    while end < chars.len() && chars[end] != '"' {
        end += if chars[end] == '\\' { 2 } else { 1 };
    }
    Some((chars[body..end.min(chars.len())].iter().collect(), end + 1))
}

/// Whether `text` reads as SQL (not English that happens to say "where" or "select").
fn reads_as_sql(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$' || c == '='))
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    let followed_by = |first: &str, then: &[&str], within: usize| {
        words.iter().enumerate().any(|(at, w)| {
            *w == first
                && words[at + 1..]
                    .iter()
                    .take(within)
                    .any(|next| then.contains(next))
        })
    };
    (has("select") && has("from"))
        || followed_by("insert", &["into"], 1)
        || followed_by("delete", &["from"], 1)
        || followed_by("update", &["set"], 2)
        || (has("values") && lower.contains('('))
        || (has("where") && (lower.contains('=') || lower.contains('$')))
        || followed_by(
            "create",
            &[
                "database", "table", "index", "role", "schema", "function", "policy", "view",
            ],
            3,
        )
        || followed_by(
            "drop",
            &[
                "database", "table", "index", "role", "schema", "function", "policy", "view",
            ],
            1,
        )
        || followed_by("alter", &["table", "role", "database"], 1)
        || (has("copy") && (has("stdin") || has("stdout")))
        || followed_by("truncate", &["table"], 1)
        || lower.contains("set_config(")
}

/// The sqlx entry points whose first argument is SQL text.
const SQL_SINKS: &[&str] = &[
    "query",
    "query_as",
    "query_scalar",
    "query_with",
    "query_as_with",
    "query_scalar_with",
    "raw_sql",
];

/// One place SQL text may be built from a value.
#[derive(Debug, Clone, PartialEq)]
struct Finding {
    file: String,
    line: usize,
    what: String,
    /// The source line, trimmed.
    text: String,
}

/// Index of the `)` matching the `(` at `open`.
fn closing(tokens: &[Lexed], open: usize) -> usize {
    let mut depth = 0;
    for (at, lexed) in tokens.iter().enumerate().skip(open) {
        match lexed.token {
            Token::Punct('(' | '[' | '{') => depth += 1,
            Token::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return at;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// The first argument of the call whose `(` is at `open`: its tokens up to a top-level `,` or the `)`.
fn first_argument(tokens: &[Lexed], open: usize) -> &[Lexed] {
    let close = closing(tokens, open);
    let mut depth = 0;
    for at in open + 1..close {
        match tokens[at].token {
            Token::Punct('(' | '[' | '{' | '<') => depth += 1,
            Token::Punct(')' | ']' | '}' | '>') => depth -= 1,
            Token::Punct(',') if depth == 0 => return &tokens[open + 1..at],
            _ => {}
        }
    }
    &tokens[open + 1..close.min(tokens.len())]
}

fn is_const_name(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `name` can only hold constant text in this file: a `name: &'static str` parameter, or a
/// `for name in [CONST, …]` loop.
fn holds_only_constants(tokens: &[Lexed], name: &str) -> bool {
    let ident = |at: usize, text: &str| matches!(&tokens.get(at).map(|l| &l.token), Some(Token::Ident(t)) if t == text);
    let punct = |at: usize, c: char| matches!(tokens.get(at).map(|l| &l.token), Some(Token::Punct(p)) if *p == c);
    (0..tokens.len()).any(|at| {
        // `name : & 'static str` lexes as name, ':', '&', "static" (the quote is skipped), "str".
        let parameter = ident(at, name)
            && punct(at + 1, ':')
            && punct(at + 2, '&')
            && ident(at + 3, "static")
            && ident(at + 4, "str");
        let loop_over_constants = ident(at, "for")
            && ident(at + 1, name)
            && ident(at + 2, "in")
            && punct(at + 3, '[')
            && {
                let close = closing(tokens, at + 3);
                tokens[at + 4..close].iter().all(|l| match &l.token {
                    Token::Ident(t) => is_const_name(t),
                    Token::Str(_) => true,
                    Token::Punct(c) => *c == ',' || *c == ':',
                })
            };
        parameter || loop_over_constants
    })
}

/// Whether a SQL argument is constant text.
fn is_constant_sql(tokens: &[Lexed], argument: &[Lexed]) -> bool {
    let kinds: Vec<&Token> = argument
        .iter()
        .map(|l| &l.token)
        .filter(|t| !matches!(t, Token::Punct('&')))
        .collect();
    match kinds.as_slice() {
        [Token::Str(_)] => true,
        [Token::Ident(name)] => is_const_name(name) || holds_only_constants(tokens, name),
        // A path to a constant: `queries::SELECT`, `Self::SELECT`.
        [.., Token::Punct(':'), Token::Ident(name)] => is_const_name(name),
        [Token::Ident(m), Token::Punct('!'), Token::Punct('('), inner @ .., Token::Punct(')')]
            if m == "concat" =>
        {
            inner.iter().all(|t| match t {
                Token::Str(_) => true,
                Token::Ident(name) => is_const_name(name),
                Token::Punct(c) => *c == ',',
            })
        }
        // `AssertSqlSafe(…)`, checked as a sink of its own.
        _ => kinds.windows(2).any(|pair| {
            matches!(pair, [Token::Ident(name), Token::Punct('(')] if name == "AssertSqlSafe")
        }),
    }
}

/// Every place in `source` (the file `file`) where SQL text may be built from a value.
fn scan(file: &str, source: &str) -> Vec<Finding> {
    let tokens = lex(source);
    let lines: Vec<&str> = source.lines().collect();
    let mut findings = Vec::new();
    let mut report = |line: usize, what: String| {
        findings.push(Finding {
            file: file.to_owned(),
            line,
            what,
            text: lines.get(line - 1).map_or("", |l| l.trim()).to_owned(),
        });
    };
    let token = |at: usize| tokens.get(at).map(|l| &l.token);
    let sqlx_path_before = |at: usize| {
        at >= 3
            && token(at - 1) == Some(&Token::Punct(':'))
            && token(at - 2) == Some(&Token::Punct(':'))
            && token(at - 3) == Some(&Token::Ident("sqlx".to_owned()))
    };
    for at in 0..tokens.len() {
        let line = tokens[at].line;
        match &tokens[at].token {
            Token::Ident(name) => {
                let sink = (SQL_SINKS.contains(&name.as_str()) && sqlx_path_before(at))
                    || name == "copy_in_raw"
                    || name == "AssertSqlSafe";
                if sink {
                    let open = skip_turbofish(&tokens, at + 1);
                    if token(open) == Some(&Token::Punct('(')) {
                        let argument = first_argument(&tokens, open);
                        if !is_constant_sql(&tokens, argument) {
                            report(line, format!("{name} is given SQL that is not a constant"));
                        }
                    }
                }
                if name == "QueryBuilder" {
                    report(line, "QueryBuilder concatenates SQL text".to_owned());
                }
                let template_macro =
                    ["format", "write", "writeln", "format_args"].contains(&name.as_str());
                if template_macro
                    && token(at + 1) == Some(&Token::Punct('!'))
                    && token(at + 2) == Some(&Token::Punct('('))
                {
                    let close = closing(&tokens, at + 2);
                    let sql = tokens[at + 3..close.min(tokens.len())]
                        .iter()
                        .any(|l| matches!(&l.token, Token::Str(text) if reads_as_sql(text)));
                    if sql {
                        report(line, format!("{name}! builds SQL text"));
                    }
                }
                if name == "push_str" && token(at + 1) == Some(&Token::Punct('(')) {
                    let argument = first_argument(&tokens, at + 1);
                    let sql = argument
                        .iter()
                        .any(|l| matches!(&l.token, Token::Str(text) if reads_as_sql(text)));
                    if sql {
                        report(line, "push_str appends SQL text".to_owned());
                    }
                }
            }
            Token::Str(text) if reads_as_sql(text) => {
                let plus_beside = token(at + 1) == Some(&Token::Punct('+'))
                    || (at > 0 && token(at - 1) == Some(&Token::Punct('+')));
                let made_owned = token(at + 1) == Some(&Token::Punct('.'))
                    && matches!(token(at + 2), Some(Token::Ident(m)) if ["to_owned", "to_string", "into"].contains(&m.as_str()));
                let string_from = at >= 5
                    && token(at - 1) == Some(&Token::Punct('('))
                    && token(at - 2) == Some(&Token::Ident("from".to_owned()))
                    && token(at - 5) == Some(&Token::Ident("String".to_owned()));
                if plus_beside || made_owned || string_from {
                    report(line, "SQL text is concatenated at run time".to_owned());
                }
            }
            _ => {}
        }
    }
    findings
}

/// Past a `::<…>` turbofish starting at `at`, if any.
fn skip_turbofish(tokens: &[Lexed], at: usize) -> usize {
    let is = |at: usize, c: char| matches!(tokens.get(at).map(|l| &l.token), Some(Token::Punct(p)) if *p == c);
    if !(is(at, ':') && is(at + 1, ':') && is(at + 2, '<')) {
        return at;
    }
    let mut depth = 0;
    for next in at + 2..tokens.len() {
        if is(next, '<') {
            depth += 1;
        } else if is(next, '>') {
            depth -= 1;
            if depth == 0 {
                return next + 1;
            }
        }
    }
    tokens.len()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Every `.rs` file under `crates/*/src` and `examples/`.
fn sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
    {
        rust_files(&krate.path().join("src"), &mut files);
    }
    rust_files(&root.join("examples"), &mut files);
    files.sort();
    files
}

fn allowed(finding: &Finding) -> bool {
    ALLOWED
        .iter()
        .any(|(file, text, _)| finding.file == *file && finding.text.contains(text))
}

#[test]
fn no_sql_text_is_built_from_a_value_anywhere_in_the_crates_or_examples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = sources();
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut findings = Vec::new();
    for path in &files {
        let source = std::fs::read_to_string(path).unwrap();
        let file = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        findings.extend(scan(&file, &source));
    }

    let defects: Vec<&Finding> = findings.iter().filter(|f| !allowed(f)).collect();
    assert!(
        defects.is_empty(),
        "SQL text built from values (bind them, or name the place in ALLOWED with why it is safe):\n{}",
        defects
            .iter()
            .map(|f| format!("  {}:{}: {}: {}", f.file, f.line, f.what, f.text))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (file, text, reason) in ALLOWED {
        assert!(
            findings
                .iter()
                .any(|f| f.file == *file && f.text.contains(text)),
            "ALLOWED names a place that no longer builds SQL text ({reason}): {file}: {text}"
        );
    }
}

#[test]
fn the_crates_do_send_sql_so_the_scan_has_something_to_check() {
    let sinks = sources()
        .iter()
        .map(|path| {
            let tokens = lex(&std::fs::read_to_string(path).unwrap());
            (0..tokens.len())
                .filter(|&at| matches!(&tokens[at].token, Token::Ident(n) if n == "sqlx"))
                .filter(|&at| {
                    matches!(tokens.get(at + 3).map(|l| &l.token), Some(Token::Ident(n)) if SQL_SINKS.contains(&n.as_str()))
                })
                .count()
        })
        .sum::<usize>();
    assert!(sinks > 30, "only {sinks} sqlx::query… calls found");
}

#[test]
fn the_scanner_flags_sql_formatted_from_a_value() {
    let planted = r#"
        async fn find(pool: &PgPool, name: &str) {
            let sql = format!("select * from accounts where name = '{name}'");
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap();
        }
    "#;
    let findings = scan("planted.rs", planted);
    let whats: Vec<&str> = findings.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(
        whats,
        [
            "format! builds SQL text",
            "AssertSqlSafe is given SQL that is not a constant"
        ]
    );
    assert_eq!(findings[0].line, 3);
}

#[test]
fn the_scanner_flags_concatenation_push_str_and_a_query_of_a_variable() {
    let planted = r#"
        fn build(table: &str, id: &str) -> String {
            let mut sql = "delete from ".to_owned() + table;
            sql.push_str(" where id = ");
            sql += id;
            sqlx::query(&sql);
            sqlx::query_as::<_, (i64,)>(sql.as_str());
            let mut b = sqlx::QueryBuilder::new("select 1");
            String::from("insert into t values (") + id
        }
    "#;
    let findings = scan("planted.rs", planted);
    let lines: Vec<(usize, &str)> = findings.iter().map(|f| (f.line, f.what.as_str())).collect();
    assert_eq!(
        lines,
        [
            (3, "SQL text is concatenated at run time"),
            (4, "push_str appends SQL text"),
            (6, "query is given SQL that is not a constant"),
            (7, "query_as is given SQL that is not a constant"),
            (8, "QueryBuilder concatenates SQL text"),
            (9, "SQL text is concatenated at run time"),
        ]
    );
}

#[test]
fn the_scanner_accepts_literals_constants_and_binds() {
    let clean = r##"
        const SELECT: &str = "select id from public.accounts where user_id = $1";
        // format!("select * from t where id = {id}") in a comment is not code
        /* nor is sqlx::query(&format!("delete from t")) in a block comment */
        async fn read(conn: &mut PgConnection, user: Uuid, statement: &'static str) {
            sqlx::query(SELECT).bind(user).fetch_all(&mut *conn).await;
            sqlx::query("update public.accounts set is_active = false where id = $1").bind(user);
            sqlx::query_scalar::<_, bool>(r#"select exists (select 1 from "t" where id = $1)"#);
            sqlx::query(queries::DELETE).bind(user);
            sqlx::query(concat!("select 1 ", "from t where id = $1")).bind(user);
            sqlx::query(statement).bind(user);
            for each in [LOCK, NAME] {
                sqlx::query(each).bind(user);
            }
            let message = format!("the {what} was deleted at SnapTrade, where it lived");
            let c = '"';
            sqlx::query(sqlx::AssertSqlSafe(SELECT));
        }
    "##;
    assert_eq!(scan("clean.rs", clean), []);
}

#[test]
fn english_that_mentions_select_or_where_does_not_read_as_sql() {
    for text in [
        "select a brokerage in the portal",
        "where the connection is",
        "the {what} was deleted at SnapTrade",
        "update your settings",
        "values of the holdings",
    ] {
        assert!(!reads_as_sql(text), "{text}");
    }
    for text in [
        "select id from t",
        "insert into public.orders (id) values ($1)",
        "update t set a = 1",
        "delete from t",
        "create database {scratch}",
        "copy t (a) from stdin",
    ] {
        assert!(reads_as_sql(text), "{text}");
    }
}
