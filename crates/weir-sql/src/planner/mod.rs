//! The planner: executes a script's statements in order against a session (options,
//! catalog, DataFusion context) and builds one dataflow graph from all its INSERTs.
//!
//! DataFusion parses names, resolves types, coerces and optimises each query into a
//! logical plan; [`translate`] turns that plan, node by node, into dataflow nodes.

mod aggregate;
mod cold_join;
mod group_agg;
mod hints;
mod interval_join;
mod join;
mod late;
mod lookup_join;
#[cfg(test)]
mod lookup_join_tests;
mod over;
mod projection;
mod rank;
mod session;
mod sink;
#[cfg(test)]
mod sink_tests;
mod source;
mod split_distinct;
mod temporal_inputs;
mod temporal_join;
#[cfg(test)]
mod temporal_join_tests;
mod topn;
mod translate;
mod values;
mod versioned;
mod versioned_view;
mod window_attached;
#[cfg(test)]
mod window_attached_tests;
mod window_attrs;
mod window_join;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::common::{DFSchema, TableReference};
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::ViewTable;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ExprSchemable, LogicalPlan};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, ExprWithAlias};
use datafusion::sql::sqlparser::ast::{Query, Statement as SqlStatement};
use weir_runtime::{JobConfig, JobGraph};

use crate::catalog::TableDef;
use crate::config::SessionOptions;
use crate::error::{Position, SqlError, SqlResult};
use crate::parser::ScriptParser;
use crate::statement::{ColumnKind, CreateTable, CreateView, Insert, Located, Statement};

/// A script planned into one job.
pub struct PlannedJob {
    /// The dataflow.
    pub graph: JobGraph,
    /// Runtime settings from the script's options.
    pub config: JobConfig,
    /// The session options in effect.
    pub options: SessionOptions,
    /// Things the user should know that are not errors (unused options, ...).
    pub warnings: Vec<String>,
}

/// Plans a script. `base_dir` resolves relative paths in table options; `overrides`
/// are `--set` options, applied before the script's own statements.
pub async fn plan_script(
    script: &str,
    base_dir: &Path,
    overrides: &[(String, String)],
) -> SqlResult<PlannedJob> {
    let mut planner = Planner::new(base_dir.to_path_buf());
    for (k, v) in overrides {
        planner.set(k, v, Position::default())?;
    }
    let result = planner.run_script(script).await;
    let planner = result.map_err(|e| e.with_source(script))?;
    if planner.sinks == 0 {
        return Err(SqlError::new(
            "the script has no INSERT INTO or SELECT statement, so there is nothing to run",
        ));
    }
    let config = planner.options.job_config(base_dir);
    Ok(PlannedJob {
        graph: planner.graph,
        config,
        options: planner.options,
        warnings: planner.warnings,
    })
}

/// The state of a session while its script runs.
pub(crate) struct Planner {
    pub ctx: SessionContext,
    pub options: SessionOptions,
    pub tables: BTreeMap<String, TableDef>,
    pub views: BTreeSet<String>,
    pub graph: JobGraph,
    pub base_dir: PathBuf,
    pub warnings: Vec<String>,
    pub sinks: usize,
    /// Source nodes by table name: a table read twice is read once (source reuse).
    pub sources: BTreeMap<String, usize>,
    /// The columns each source table's node reads (projection pushdown).
    pub source_reads: projection::SourceReadsByTable,
    /// Aggregations translated so far, by their plan: an identical one is computed once
    /// and feeds every reader (Flink's sub-plan reuse; see `window_attached.rs`).
    pub aggregates: Vec<(LogicalPlan, translate::Stream)>,
    /// Above 0 while the input of a window aggregation is translated, where hopping and
    /// cumulating window columns (slices) may appear.
    pub window_aggregate_depth: usize,
    /// The late-data table and its queue, once an operator routes late rows to it.
    pub late_data: Option<(String, Arc<weir_runtime::LateData>)>,
    /// `STATE_TTL` hints in effect for the statement being planned (its own and those of
    /// the views it may read), by join input name.
    pub join_ttl_hints: hints::StateTtlHints,
    /// `STATE_TTL` hints of the views created so far.
    pub view_ttl_hints: hints::StateTtlHints,
    /// `COLD_STATE` hints in effect for the statement being planned, by join input name.
    pub join_cold_hints: hints::ColdStateHints,
    /// `COLD_STATE` hints of the views created so far.
    pub view_cold_hints: hints::ColdStateHints,
    /// Tables read `FOR SYSTEM_TIME AS OF` by the statement being planned (and the views
    /// it may read), with whether a join has consumed each.
    pub versioned_reads: Vec<(hints::VersionedRead, bool)>,
    /// Tables read `FOR SYSTEM_TIME AS OF` by the views created so far.
    pub view_versioned_reads: Vec<hints::VersionedRead>,
}

impl Planner {
    /// With checkpoints on (`execution.checkpointing.interval`), refuses an operator
    /// whose state checkpoints cannot hold exactly: `check` is its own verdict.
    pub(crate) fn require_checkpointable(
        &self,
        check: weir_types::EngineResult<()>,
    ) -> SqlResult<()> {
        let checkpoints_on =
            crate::checkpoint_options::checkpoint_config(&self.options, Path::new(".")).is_some();
        match check {
            Err(e) if checkpoints_on => Err(SqlError::new(e.to_string())),
            _ => Ok(()),
        }
    }

    fn new(base_dir: PathBuf) -> Planner {
        let mut config = SessionConfig::new();
        {
            let options = config.options_mut();
            // Flink identifiers are case-sensitive; strings are plain UTF-8.
            options.sql_parser.enable_ident_normalization = false;
            options.sql_parser.map_string_types_to_utf8view = false;
            options.sql_parser.collect_spans = true;
            // Flink's decimal literals are exact DECIMALs, not DOUBLEs.
            options.sql_parser.parse_float_as_decimal = true;
            options.execution.time_zone = Some("UTC".into());
        }
        let ctx = SessionContext::new_with_config(config);
        // Registration only fails on a bug in weir-functions: surface it when planning.
        for function in crate::windows::udf::window_functions() {
            ctx.register_udf(function);
        }
        ctx.register_udf(versioned::as_of_marker_udf());
        let registered = weir_functions::register_flink_functions(&ctx);
        let mut warnings = Vec::new();
        if let Err(e) = registered {
            warnings.push(format!("Flink functions could not be registered: {e}"));
        }
        Planner {
            ctx,
            options: SessionOptions::default(),
            tables: BTreeMap::new(),
            views: BTreeSet::new(),
            graph: JobGraph::default(),
            base_dir,
            warnings,
            sinks: 0,
            sources: BTreeMap::new(),
            source_reads: BTreeMap::new(),
            aggregates: Vec::new(),
            window_aggregate_depth: 0,
            late_data: None,
            join_ttl_hints: hints::StateTtlHints::new(),
            view_ttl_hints: hints::StateTtlHints::new(),
            join_cold_hints: hints::ColdStateHints::new(),
            view_cold_hints: hints::ColdStateHints::new(),
            versioned_reads: Vec::new(),
            view_versioned_reads: Vec::new(),
        }
    }

    async fn run_script(mut self, script: &str) -> SqlResult<Planner> {
        let mut parser = ScriptParser::new(script)?;
        loop {
            let time_zone = "UTC";
            let Some(statement) = parser.next_statement(time_zone) else {
                break;
            };
            let Located { node, position } = statement?;
            self.execute(node, position).await?;
        }
        late::add_late_data_sink(&mut self)?;
        projection::push_down(&mut self);
        Ok(self)
    }

    async fn execute(&mut self, statement: Statement, position: Position) -> SqlResult<()> {
        match statement {
            Statement::Set { key, value } => self.set(&key, &value, position),
            Statement::Reset { key } => {
                self.options.reset(key.as_deref());
                self.apply_time_zone();
                Ok(())
            }
            Statement::CreateTable(create) => self.create_table(*create, position),
            Statement::CreateView(view) => self.create_view(view, position).await,
            Statement::Insert(insert) => self.insert(insert, position).await,
            Statement::StatementSet(inserts) => {
                for Located { node, position } in inserts {
                    self.insert(node, position).await?;
                }
                Ok(())
            }
            Statement::Select(query) => self.select(query, position).await,
        }
    }

    fn set(&mut self, key: &str, value: &str, position: Position) -> SqlResult<()> {
        match self.options.set(key, value) {
            Ok(Some(warning)) => self.warnings.push(warning),
            Ok(None) => {}
            Err(message) => return Err(SqlError::at(position, message)),
        }
        self.apply_time_zone();
        Ok(())
    }

    fn apply_time_zone(&mut self) {
        let zone = self.options.time_zone();
        let state = self.ctx.state_ref();
        state.write().config_mut().options_mut().execution.time_zone = Some(zone);
    }

    fn create_table(&mut self, create: CreateTable, position: Position) -> SqlResult<()> {
        if self.tables.contains_key(&create.name) || self.views.contains(&create.name) {
            if create.if_not_exists {
                return Ok(());
            }
            return Err(SqlError::at(
                position,
                format!("table or view '{}' already exists", create.name),
            ));
        }
        let mut seen = BTreeSet::new();
        for c in &create.columns {
            if !seen.insert(c.name.as_str()) {
                return Err(SqlError::at(
                    c.position,
                    format!("column '{}' is declared twice", c.name),
                ));
            }
        }
        for key in &create.primary_key {
            if !seen.contains(key.as_str()) {
                return Err(SqlError::at(
                    position,
                    format!("primary key column '{key}' is not a column of the table"),
                ));
            }
        }
        let schema = self.table_schema(&create)?;
        let table = TableDef::new(&create, schema.clone(), position);
        if let Some(w) = &table.watermark {
            source::check_watermark(self, &table, w)?;
        }
        self.register(&table.name, Arc::new(EmptyTable::new(schema)));
        self.tables.insert(table.name.clone(), table);
        Ok(())
    }

    /// The schema queries see: declared columns, with computed columns typed by their
    /// expressions over the physical and metadata columns.
    fn table_schema(&self, create: &CreateTable) -> SqlResult<Arc<Schema>> {
        let stored: Vec<Field> = create
            .columns
            .iter()
            .filter_map(|c| {
                c.data_type
                    .clone()
                    .map(|t| Field::new(c.name.clone(), t, c.nullable))
            })
            .collect();
        let stored_schema =
            DFSchema::try_from(Schema::new(stored)).map_err(|e| SqlError::new(e.to_string()))?;
        let mut fields = Vec::new();
        for c in &create.columns {
            match (&c.kind, &c.data_type) {
                (ColumnKind::Computed(expr), _) => {
                    let logical = self.sql_expr(expr, &stored_schema, c.position)?;
                    let (_, field) = logical
                        .to_field(&stored_schema)
                        .map_err(|e| datafusion_error(e, c.position))?;
                    fields.push(Field::new(
                        c.name.clone(),
                        field.data_type().clone(),
                        field.is_nullable(),
                    ));
                }
                (_, Some(t)) => fields.push(Field::new(c.name.clone(), t.clone(), c.nullable)),
                (_, None) => {
                    return Err(SqlError::at(
                        c.position,
                        format!("column '{}' has no type", c.name),
                    ))
                }
            }
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    /// Plans a SQL expression against `schema`.
    pub(crate) fn sql_expr(
        &self,
        expr: &SqlExpr,
        schema: &DFSchema,
        position: Position,
    ) -> SqlResult<datafusion::logical_expr::Expr> {
        let state = self.ctx.state();
        let with_alias = ExprWithAlias {
            expr: expr.clone(),
            alias: None,
        };
        state
            .create_logical_expr_from_sql_expr(with_alias, schema)
            .map_err(|e| datafusion_error(e, position))
    }

    fn register(&self, name: &str, provider: Arc<dyn TableProvider>) {
        let reference = TableReference::bare(name.to_string());
        // Replacing is fine: names were checked for clashes before.
        let _ = self.ctx.register_table(reference, provider);
    }

    async fn create_view(&mut self, mut view: CreateView, position: Position) -> SqlResult<()> {
        if self.tables.contains_key(&view.name) || self.views.contains(&view.name) {
            if view.if_not_exists {
                return Ok(());
            }
            return Err(SqlError::at(
                position,
                format!("table or view '{}' already exists", view.name),
            ));
        }
        let view_hints = hints::query_hints(&mut view.query, position)?;
        self.view_ttl_hints.extend(view_hints.ttls);
        self.view_cold_hints.extend(view_hints.cold);
        self.view_versioned_reads.extend(view_hints.versioned);
        self.warnings.extend(view_hints.warnings);
        let mut plan = self.plan_query(&view.query, position).await?;
        if !view.columns.is_empty() {
            let fields = plan.schema().fields().len();
            if fields != view.columns.len() {
                return Err(SqlError::at(
                    position,
                    format!(
                        "view '{}' names {} columns but its query produces {fields}",
                        view.name,
                        view.columns.len()
                    ),
                ));
            }
            let exprs = plan
                .schema()
                .columns()
                .into_iter()
                .zip(&view.columns)
                .map(|(c, name)| datafusion::logical_expr::Expr::Column(c).alias(name.clone()))
                .collect::<Vec<_>>();
            plan = datafusion::logical_expr::LogicalPlanBuilder::from(plan)
                .project(exprs)
                .and_then(|b| b.build())
                .map_err(|e| datafusion_error(e, position))?;
        }
        self.register(&view.name, Arc::new(ViewTable::new(plan, None)));
        self.views.insert(view.name);
        Ok(())
    }

    /// Plans a query into an unoptimised logical plan.
    pub(crate) async fn plan_query(
        &self,
        query: &Query,
        position: Position,
    ) -> SqlResult<LogicalPlan> {
        let statement =
            DfStatement::Statement(Box::new(SqlStatement::Query(Box::new(query.clone()))));
        self.ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(|e| datafusion_error(e, position))
    }

    /// Plans and optimises a query.
    pub(crate) async fn optimized_query(
        &self,
        query: &Query,
        position: Position,
    ) -> SqlResult<LogicalPlan> {
        let plan = self.plan_query(query, position).await?;
        let plan = self
            .ctx
            .state()
            .optimize(&plan)
            .map_err(|e| datafusion_error(e, position))?;
        tracing::debug!(
            "optimised logical plan at {position}:\n{}",
            plan.display_indent()
        );
        Ok(plan)
    }

    /// Sets the `STATE_TTL` hints and versioned reads in effect for a statement's query.
    fn use_hints(&mut self, query: &mut Query, position: Position) -> SqlResult<()> {
        let own = hints::query_hints(query, position)?;
        self.warnings.extend(own.warnings);
        self.join_ttl_hints = self.view_ttl_hints.clone();
        self.join_ttl_hints.extend(own.ttls);
        self.join_cold_hints = self.view_cold_hints.clone();
        self.join_cold_hints.extend(own.cold);
        self.versioned_reads = (self.view_versioned_reads.iter().cloned())
            .chain(own.versioned)
            .map(|read| (read, false))
            .collect();
        Ok(())
    }

    /// Translates a statement's optimised plan, then checks that every table it reads
    /// `FOR SYSTEM_TIME AS OF` was the right input of a join.
    fn translate_statement(
        &mut self,
        plan: &LogicalPlan,
        position: Position,
    ) -> SqlResult<translate::Stream> {
        let stream = translate::translate(self, plan).map_err(|e| e.or_at(position))?;
        versioned::check_all_joined(self)?;
        Ok(stream)
    }

    async fn insert(&mut self, mut insert: Insert, position: Position) -> SqlResult<()> {
        self.use_hints(&mut insert.query, position)?;
        let plan = self.optimized_query(&insert.query, position).await?;
        let stream = self.translate_statement(&plan, position)?;
        sink::add_insert_sink(self, &insert, stream, position)?;
        self.sinks += 1;
        Ok(())
    }

    async fn select(&mut self, mut query: Box<Query>, position: Position) -> SqlResult<()> {
        self.use_hints(&mut query, position)?;
        let plan = self.optimized_query(&query, position).await?;
        let stream = self.translate_statement(&plan, position)?;
        sink::add_print_sink(self, stream, position)?;
        self.sinks += 1;
        Ok(())
    }
}

/// Converts a DataFusion error into a [`SqlError`], at the span DataFusion reports when
/// it has one, else at `position`.
pub(crate) fn datafusion_error(error: DataFusionError, position: Position) -> SqlError {
    let at = error
        .diagnostic()
        .and_then(|d| d.span)
        .filter(|s| s.start.line > 0)
        .map(|s| Position {
            line: s.start.line,
            column: s.start.column,
        })
        .unwrap_or(position);
    let message = error.find_root().strip_backtrace();
    let message = message
        .trim_start_matches("Error during planning: ")
        .trim_start_matches("Schema error: ")
        .trim_start_matches("This feature is not implemented: ")
        .to_string();
    SqlError::at(at, message)
}
