import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Logger } from '@nestjs/common';
import { ConfigError, loadConfigFile } from '@rungate/config';
import type { ConfigHolder } from './context';

const DEBOUNCE_MS = 150;

/**
 * Hot reload: when rungate.yaml changes, the new file is validated in full and swapped in
 * atomically. A bad file changes nothing: the last good configuration stays and the log
 * says which key is wrong.
 */
export class ConfigWatcher {
  private readonly log = new Logger('config');
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  lastError?: string;

  constructor(
    private readonly holder: ConfigHolder,
    private readonly file: string,
  ) {}

  start(): void {
    // Watch the folder: editors and Kubernetes ConfigMaps replace the file rather than write it.
    this.watcher = watch(dirname(this.file), (_event, name) => {
      if (name && basename(String(name)) !== basename(this.file) && !String(name).startsWith('..')) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.reload(), DEBOUNCE_MS);
    });
    this.watcher.on('error', (error) => this.log.warn(`cannot watch ${this.file}: ${error.message}`));
  }

  reload(): boolean {
    try {
      const { config, content } = loadConfigFile(this.file);
      this.lastError = undefined;
      this.holder.replace(config, { file: this.file, content });
      this.log.log(`reloaded ${this.file}`);
      return true;
    } catch (error) {
      this.lastError = error instanceof ConfigError ? error.message : String(error);
      this.log.error(`kept the last good configuration: ${this.lastError}`);
      return false;
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}
