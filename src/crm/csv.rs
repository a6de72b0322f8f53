//! The CSV adapter (being written; this placeholder only lets the crate compile meanwhile).

/// Placeholder.
pub struct CsvAdapter;

impl CsvAdapter {
    /// Placeholder.
    pub fn new(_cfg: &crate::config::CsvConfig) -> CsvAdapter {
        CsvAdapter
    }
}

impl super::CrmAdapter for CsvAdapter {
    fn name(&self) -> String {
        String::new()
    }
    fn fields(&self) -> std::collections::BTreeSet<crate::reconcile::Field> {
        Default::default()
    }
    async fn read(&mut self) -> Result<super::CrmSnapshot, super::Error> {
        Ok(Default::default())
    }
    async fn write(&mut self, _writes: &[super::CrmWrite]) -> Result<super::WriteReport, super::Error> {
        Ok(Default::default())
    }
}
