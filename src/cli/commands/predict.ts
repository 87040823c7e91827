/**
 * `vflare predict <model> <csv>`: scores the rows of a CSV file with a saved traditional-ML model
 * (linear, SVM, k-means or random forest; see docs/traditional-ml.md) and prints one line per
 * row: the prediction, then the score for two-class models.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { VflareError } from '../../runtime/core/errors.js';
import { type PredictLabel, predictCsv } from '../../traditional-ml/model/predict.js';
import { cliIo } from '../main.js';
import { metricsTable } from '../output.js';

interface PredictFlags {
  readonly label: string;
  readonly out?: string;
}

const LABELS: readonly PredictLabel[] = ['auto', 'none', 'first', 'last'];

export function register(program: Command): void {
  program
    .command('predict')
    .description('score the rows of a CSV file with a saved traditional-ML model (JSON)')
    .argument(
      '<model>',
      'a model saved by a traditional-ML job (e.g. <workspace>/server/global_model.json)',
    )
    .argument('<csv>', "rows to score: the model's features, optionally with a label column")
    .option(
      '--label <where>',
      'label column: auto (the last one if there is one column more than features), ' +
        'none, first, last',
      'auto',
    )
    .option('--out <file>', 'write predictions to this file instead of stdout')
    .action(async (modelPath: string, csvPath: string, flags: PredictFlags) => {
      const io = cliIo();
      if (!LABELS.includes(flags.label as PredictLabel)) {
        throw new VflareError(
          'INVALID_ARGUMENT',
          `--label: expected one of ${LABELS.join(', ')}, got "${flags.label}"`,
        );
      }
      const r = await predictCsv(modelPath, csvPath, flags.label as PredictLabel);
      const lines = [r.scores === undefined ? 'prediction' : 'prediction,score'];
      for (let i = 0; i < r.rows; i++) {
        const p = r.predictions[i] as number;
        lines.push(r.scores === undefined ? `${p}` : `${p},${r.scores[i] as number}`);
      }
      const text = `${lines.join('\n')}\n`;
      if (flags.out === undefined) io.out(text);
      else {
        try {
          await writeFile(flags.out, text);
        } catch (err) {
          throw new VflareError(
            'INVALID_ARGUMENT',
            `--out: cannot write ${flags.out} (${(err as { code?: string }).code ?? 'error'}); ` +
              'check that its folder exists and is writable',
            { cause: err },
          );
        }
      }
      const dest = flags.out === undefined ? '' : ` → ${flags.out}`;
      io.err(`${r.model.kind} model, ${r.rows} row(s) scored${dest}\n`);
      if (r.metrics !== undefined) io.err(`\n${metricsTable(r.metrics)}\n`);
    });
}
