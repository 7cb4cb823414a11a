// Effects of secret, volume, ingress and certificate commands, run only after validateCommand
// passed on the same state. Secrets are immutable (a new value is a new secret); the others bump
// their version on every change.

import { assert } from '../assert.ts';
import type { ObjectCommand } from './commands.ts';
import { copyIngressRule } from './normalize.ts';
import type { Tables } from './tables.ts';

export function applyObjectCommand(tables: Tables, command: ObjectCommand): boolean {
  const { atUs } = command;
  switch (command.type) {
    case 'secret-create':
      tables.secretTable.put({ id: command.id, name: command.name, version: 1, ciphertext: command.ciphertext, digest: command.digest, createdAtUs: atUs });
      return true;
    case 'secret-remove':
      tables.secretTable.remove(command.id);
      return true;
    case 'volume-create':
      tables.volumeTable.put({ id: command.id, name: command.name, version: 1, driver: 'local', nodeId: command.nodeId, createdAtUs: atUs });
      return true;
    case 'volume-set-node': {
      const volume = tables.volume(command.id);
      assert(volume !== null, `validated volume-set-node of unknown volume ${command.id}`);
      tables.volumeTable.put({ ...volume, nodeId: command.nodeId, version: volume.version + 1 });
      return true;
    }
    case 'volume-remove':
      tables.volumeTable.remove(command.id);
      return true;
    case 'ingress-create':
      tables.ingressTable.put({
        id: command.id, name: command.name, version: 1, rules: command.rules.map(copyIngressRule), certificate: command.certificate, createdAtUs: atUs,
      });
      return true;
    case 'ingress-update': {
      const ingress = tables.ingress(command.id);
      assert(ingress !== null, `validated ingress-update of unknown ingress ${command.id}`);
      tables.ingressTable.put({ ...ingress, version: ingress.version + 1, rules: command.rules.map(copyIngressRule), certificate: command.certificate });
      return true;
    }
    case 'ingress-remove':
      tables.ingressTable.remove(command.id);
      return true;
    case 'certificate-create':
      tables.certificateTable.put({
        id: command.id, name: command.name, version: 1, domains: [...command.domains], source: command.source,
        ciphertext: command.ciphertext, notAfterUs: command.notAfterUs, createdAtUs: atUs,
      });
      return true;
    case 'certificate-update': {
      const certificate = tables.certificate(command.id);
      assert(certificate !== null, `validated certificate-update of unknown certificate ${command.id}`);
      tables.certificateTable.put({
        ...certificate, version: certificate.version + 1, domains: [...command.domains], ciphertext: command.ciphertext, notAfterUs: command.notAfterUs,
      });
      return true;
    }
    case 'certificate-remove':
      tables.certificateTable.remove(command.id);
      return true;
  }
}
