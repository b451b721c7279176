-- Numeric literals with a decimal point are exact DECIMALs in Flink (0.1 is DECIMAL(1, 1)):
-- 0.1 + 0.2 is 0.3, 1.10 * 3 keeps scale 2, 12.50 prints with its scale; 1e2 is a DOUBLE.
SELECT 0.1 + 0.2, 1.10 * 3, 12.50, 1e2;
