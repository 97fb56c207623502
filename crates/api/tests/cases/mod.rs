mod fuzz;
mod instances;
mod spec;
