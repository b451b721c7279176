-- EXECUTE STATEMENT SET BEGIN ... END with two INSERTs into two print sinks.
CREATE TABLE readings (sensor STRING, celsius DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 'readings.json', 'format' = 'json');

CREATE TABLE hot (sensor STRING, celsius DOUBLE) WITH ('connector' = 'print');

CREATE TABLE fahrenheit (sensor STRING, f DOUBLE) WITH ('connector' = 'print');

EXECUTE STATEMENT SET
BEGIN
  INSERT INTO hot SELECT sensor, celsius FROM readings WHERE celsius > 30;
  INSERT INTO fahrenheit SELECT sensor, celsius * 9 / 5 + 32 FROM readings;
END;
