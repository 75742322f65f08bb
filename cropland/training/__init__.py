"""Lightning glue: the classifier module, metrics, reports and the train pipeline."""
