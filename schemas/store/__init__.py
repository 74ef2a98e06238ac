"""SQL shared by the API and the worker: tables, the engine and migrations, the read model,
reports and stores."""
